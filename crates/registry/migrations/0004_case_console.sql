-- riskstream registry, schema version 4: what the analyst console needs of a case.

-- tx: the transaction as JSON text (the service stores it; pipelines may leave it NULL).
-- rules: the fired rules as ',a,b,' so a rule filter is one LIKE (NULL when none fired).
-- assignee: the analyst (key name) working the case.
ALTER TABLE cases ADD COLUMN tx TEXT;
ALTER TABLE cases ADD COLUMN rules TEXT;
ALTER TABLE cases ADD COLUMN assignee TEXT;
CREATE INDEX cases_by_score ON cases (status, score);
CREATE INDEX cases_by_assignee ON cases (assignee, status, created_at);
