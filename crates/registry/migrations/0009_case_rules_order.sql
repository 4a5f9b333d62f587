-- riskstream registry, schema version 9: a rule with a score range, in any order, without
-- reading the rule's other cases.
--
-- With migration 8 a rule's cases were found through `case_rules`, but a rule with a score
-- range was read through the score index of `cases`, testing the rule on each case in the
-- range and sorting what passed (432 ms at p50 over 1,000,000 cases). Each rule row now
-- carries its case's score and opening time (neither ever changes once a case is open), so
-- the rule with its status and a score range, in the score or the time order, is a range of
-- one index below. Without a status ("all"), the second set serves the same orders.
ALTER TABLE case_rules ADD COLUMN score DOUBLE PRECISION;
ALTER TABLE case_rules ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
UPDATE case_rules SET score = c.score, created_at = c.created_at
FROM cases c WHERE c.id = case_rules.case_id;

DROP INDEX case_rules_by_rule;
-- Oldest or newest first; the score rides along so a score range is tested in the index.
CREATE INDEX case_rules_by_time ON case_rules (rule, status, created_at, case_id, score);
CREATE INDEX case_rules_by_score_desc ON case_rules (rule, status, score DESC, created_at, case_id);
CREATE INDEX case_rules_by_score_asc ON case_rules (rule, status, score, created_at, case_id);
CREATE INDEX case_rules_all_by_time ON case_rules (rule, created_at, case_id, score);
CREATE INDEX case_rules_all_by_score_desc ON case_rules (rule, score DESC, created_at, case_id);
CREATE INDEX case_rules_all_by_score_asc ON case_rules (rule, score, created_at, case_id);

-- The model that decided each case (the decision's `model`), for the queue's model filter:
-- by model and status, oldest first. The cases already stored get theirs from their
-- decision JSON, by the statement the registry appends to this file for its database.
ALTER TABLE cases ADD COLUMN model TEXT;
CREATE INDEX cases_by_model ON cases (model, status, created_at, id);

-- Escalation: who escalated an open case and when (NULL: not escalated); the reason is in
-- the audit record (`case.escalate`). Escalated cases are few: a partial index holds only
-- them, in the queue's time order, so the escalated view never walks the others.
ALTER TABLE cases ADD COLUMN escalated_at BIGINT;
ALTER TABLE cases ADD COLUMN escalated_by TEXT;
CREATE INDEX cases_escalated ON cases (status, created_at, id) WHERE escalated_at IS NOT NULL;
