-- riskstream registry, schema version 8: the review queue filtered by rule, and over all
-- statuses, without reading the whole table.
--
-- A rule filter was a LIKE over `cases.rules` (',a,b,'), which no index serves: counting the
-- matches of one rule among 1,000,000 cases read every row. Each fired rule of a case is now
-- a row here, with the case's status (kept in step by `close_case`), so "how many open cases
-- did this rule flag" is an index walk, and a page checks membership by key. Rule names are
-- kept to their first 200 characters. The rows of the cases already stored are filled in by
-- the statement the registry appends to this file for its database (`db.rs`).
CREATE TABLE case_rules (
    case_id TEXT NOT NULL,
    rule    TEXT NOT NULL,
    status  TEXT NOT NULL,
    PRIMARY KEY (case_id, rule)
);
CREATE INDEX case_rules_by_rule ON case_rules (rule, status);

-- All statuses: oldest or newest first, and by score either way.
CREATE INDEX cases_by_time ON cases (created_at, id);
CREATE INDEX cases_all_by_score_desc ON cases (score DESC, created_at, id);
CREATE INDEX cases_all_by_score_asc ON cases (score, created_at, id);
