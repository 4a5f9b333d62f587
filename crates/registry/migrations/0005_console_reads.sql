-- riskstream registry, schema version 5: what the console reads from the audit log.

-- By action, newest first: a list's history (list.put / list.delete), label arrival
-- (label / label.correction), the latest decisions (decision) for the models page.
CREATE INDEX audit_log_by_action ON audit_log (action, seq);
-- By subject: a labelled transaction's decision record; one list entry's history.
CREATE INDEX audit_log_by_subject ON audit_log (subject, action);
