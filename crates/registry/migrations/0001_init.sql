-- riskstream registry, schema version 1.
--
-- One schema for SQLite and PostgreSQL: only TEXT, BIGINT and DOUBLE PRECISION columns, no
-- SERIAL/AUTOINCREMENT (ids are content hashes, names, or max + 1 taken under the registry's
-- write lock), times are BIGINT microseconds since the Unix epoch (UTC), JSON is stored as TEXT
-- exactly as it was hashed.

-- One row: the change counter servers poll, and the head of the audit chain. Every write
-- transaction starts by updating this row, which serialises writers across processes.
CREATE TABLE registry_state (
    id         BIGINT PRIMARY KEY,
    revision   BIGINT NOT NULL,
    audit_seq  BIGINT NOT NULL,
    audit_hash TEXT   NOT NULL
);
INSERT INTO registry_state (id, revision, audit_seq, audit_hash)
VALUES (1, 0, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Immutable, content-addressed: id = sha256(body) in lowercase hex.
CREATE TABLE artifacts (
    id         TEXT   PRIMARY KEY,
    kind       TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    size_bytes BIGINT NOT NULL,
    lineage    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT   NOT NULL
);
CREATE INDEX artifacts_by_kind_name ON artifacts (kind, name);

-- Current stage of each model within a deployment.
CREATE TABLE model_stages (
    deployment  TEXT   NOT NULL,
    artifact_id TEXT   NOT NULL REFERENCES artifacts (id),
    stage       TEXT   NOT NULL,
    pct         DOUBLE PRECISION,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT   NOT NULL,
    PRIMARY KEY (deployment, artifact_id)
);
-- The database itself refuses a second champion.
CREATE UNIQUE INDEX one_champion_per_deployment ON model_stages (deployment) WHERE stage = 'champion';

-- The active policy and feature spec of each deployment (slot = 'policy' | 'feature_spec').
CREATE TABLE deployment_bindings (
    deployment  TEXT   NOT NULL,
    slot        TEXT   NOT NULL,
    artifact_id TEXT   NOT NULL REFERENCES artifacts (id),
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT   NOT NULL,
    PRIMARY KEY (deployment, slot)
);

-- Every stage, policy and feature-spec change; rollbacks are computed from it.
CREATE TABLE deployment_history (
    id           BIGINT PRIMARY KEY,
    deployment   TEXT   NOT NULL,
    slot         TEXT   NOT NULL,
    artifact_id  TEXT   NOT NULL,
    op           TEXT   NOT NULL,
    before_state TEXT,
    before_pct   DOUBLE PRECISION,
    after_state  TEXT   NOT NULL,
    after_pct    DOUBLE PRECISION,
    time_us      BIGINT NOT NULL,
    actor        TEXT   NOT NULL
);
CREATE INDEX deployment_history_by_slot ON deployment_history (deployment, slot, id);

-- API keys: only sha256(key) is stored. Names stay reserved after revocation.
CREATE TABLE api_keys (
    name       TEXT   PRIMARY KEY,
    key_hash   TEXT   NOT NULL UNIQUE,
    roles      TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT   NOT NULL,
    revoked_at BIGINT,
    revoked_by TEXT
);

-- Allow/block lists; expires_at NULL means never.
CREATE TABLE list_entries (
    list_name  TEXT   NOT NULL,
    value      TEXT   NOT NULL,
    expires_at BIGINT,
    reason     TEXT   NOT NULL,
    added_at   BIGINT NOT NULL,
    added_by   TEXT   NOT NULL,
    PRIMARY KEY (list_name, value)
);
CREATE INDEX list_entries_by_expiry ON list_entries (expires_at);

-- The hash-chained audit log: hash = sha256(prev_hash, canonical row); see src/audit.rs.
CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,
    time_us     BIGINT NOT NULL,
    actor       TEXT   NOT NULL,
    action      TEXT   NOT NULL,
    subject     TEXT   NOT NULL,
    before_json TEXT,
    after_json  TEXT,
    prev_hash   TEXT   NOT NULL,
    hash        TEXT   NOT NULL
);
