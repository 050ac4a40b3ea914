-- Limits shared by every API process on one database (issue 21). Per-key request rates and
-- per-tenant upload quotas are token buckets kept as one row per scope holding the bucket's
-- "theoretical arrival time" (GCRA: the bucket is full once tat_ms <= now), moved by one
-- conditional upsert per request (Store::take_from_bucket). Live-stream capacity is a set of
-- leased slots (Store::acquire_slot), so a crashed process's slots expire instead of leaking.
-- Keep this DDL identical in sqlite/ and postgres/.
CREATE TABLE limit_buckets (
    scope   TEXT PRIMARY KEY,
    tat_ms  BIGINT NOT NULL
);

CREATE TABLE capacity_slots (
    scope       TEXT NOT NULL,
    holder      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (scope, holder)
);
CREATE INDEX capacity_slots_expiry ON capacity_slots (scope, expires_at);
