-- riskstream registry, schema version 10: an entity's history, from the audit log.
--
-- A case shows one transaction; an analyst judging it wants the customer's (and the
-- terminal's) recent transactions and how their features moved. Each decision's audit
-- record now holds its inputs (`before_json`: the event as received after data
-- protection, and its feature row) beside its answer (`after_json`), and one row here per
-- entity of the event points at that record. An entity's history is then one range of
-- this primary key, newest first, joined to `audit_log` by `seq`. The rows are not hashed
-- (they are an index of the chain, rebuildable from it); decisions audited before this
-- migration carry no event and are not indexed.
CREATE TABLE entity_events (
    entity  TEXT   NOT NULL,
    time_us BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    PRIMARY KEY (entity, time_us, seq)
);
