-- riskstream registry, schema version 7: the review queue sorted by score, paged by key.

-- Highest score first, ties oldest first: an index walk from any (score, created_at, id).
CREATE INDEX cases_by_score_desc ON cases (status, score DESC, created_at, id);
-- Lowest score first; it covers what cases_by_score (status, score) served.
CREATE INDEX cases_by_score_asc ON cases (status, score, created_at, id);
DROP INDEX cases_by_score;
