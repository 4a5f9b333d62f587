-- riskstream registry, schema version 3: keyed audit rows.
--
-- scheme 1: hash = sha256("riskstream-audit-v1", …), anyone can recompute it (rows written
--           before this migration, or by a registry opened without an audit key).
-- scheme 2: hash = HMAC-SHA256(audit key, "riskstream-audit-v2", …); the key lives outside
--           the database, key_fingerprint = first 8 hex digits of sha256(key) says which key.
-- BIGINT rather than SMALLINT: the registry's SQL uses TEXT / BIGINT / DOUBLE PRECISION only.
ALTER TABLE audit_log ADD COLUMN scheme BIGINT NOT NULL DEFAULT 1;
ALTER TABLE audit_log ADD COLUMN key_fingerprint TEXT;
