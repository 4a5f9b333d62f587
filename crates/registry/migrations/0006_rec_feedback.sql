-- riskstream registry, schema version 6: feedback on served recommendations (issue 28).

-- One row per feedback event (shown, clicked, accepted), keyed by the client's event id so
-- a retried POST is recorded once. model is the registry id of the model (the A/B arm) that
-- served the recommendation; deployment is the recommendation deployment it was staged in.
CREATE TABLE rec_feedback (
    event_id   TEXT   PRIMARY KEY,
    deployment TEXT   NOT NULL,
    model      TEXT   NOT NULL,
    customer   TEXT   NOT NULL,
    item       TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    at         BIGINT NOT NULL,
    actor      TEXT   NOT NULL
);
-- Acceptance per arm and per item: GROUP BY (deployment, model, kind[, item]).
CREATE INDEX rec_feedback_by_arm ON rec_feedback (deployment, model, kind, item);
