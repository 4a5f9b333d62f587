-- riskstream registry, schema version 11: the entity index of schema 10 is dropped.
--
-- `entity_events (entity, time_us, seq)` took one row per entity of every decision, keyed
-- by entity: its inserts land on random pages of a growing B-tree, and on SQLite that
-- writeback stalled the decision service's own log syncs (5,000/s p99 60–106 ms against
-- 5–21 ms without it). The service now keeps each entity's recent transaction ids in its
-- checkpointed feature state and reads their decision records through the audit log's
-- subject index (`audit_log_by_subject`, schema 5). Decisions' records keep their inputs.
DROP TABLE IF EXISTS entity_events;
