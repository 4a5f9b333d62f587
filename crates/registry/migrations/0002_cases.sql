-- riskstream registry, schema version 2: the review queue and pipeline sink progress.

-- One case per flagged decision. id = '<pipeline>:<partition>-<source offset>' for pipeline
-- decisions, so a replayed decision names the same case. decision is the decision JSON
-- exactly as written (without its latency).
CREATE TABLE cases (
    id         TEXT   PRIMARY KEY,
    source     TEXT   NOT NULL,
    tx_id      TEXT   NOT NULL,
    outcome    TEXT   NOT NULL,
    score      DOUBLE PRECISION,
    decision   TEXT   NOT NULL,
    status     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    label      TEXT,
    note       TEXT,
    closed_at  BIGINT,
    closed_by  TEXT
);
CREATE INDEX cases_by_status ON cases (status, created_at, id);
CREATE INDEX cases_by_tx ON cases (tx_id);

-- How far each pipeline partition's registry outputs (cases, decision audit records) got:
-- written in the same transaction as those outputs, so after a crash the pipeline replays
-- from its checkpoint and skips exactly what is already here.
CREATE TABLE pipeline_progress (
    pipeline      TEXT   NOT NULL,
    partition_no  BIGINT NOT NULL,
    source_offset BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (pipeline, partition_no)
);
