-- Web pages (issue 8). Sign-in sessions: a browser signs in with an API key and gets an opaque session
-- token in an HttpOnly cookie. Only the token's SHA-256 is stored (like api_keys), with the key it
-- was opened with, that key's tenant and role, the CSRF token the pages send back on unsafe
-- requests, and an absolute expiry. Keep this DDL identical in sqlite/ and postgres/.

CREATE TABLE web_sessions (
    token_sha256  TEXT PRIMARY KEY,
    key_id        TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    tenant        TEXT NOT NULL,
    role          TEXT NOT NULL,
    csrf_token    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);
CREATE INDEX web_sessions_key ON web_sessions (key_id);

-- The dashboard's average silence (`/v1/aggregates/handling`) reads one number per call; parsing
-- every stored report for it costs seconds at 10 000 calls. The report's `metrics.non_talk_secs`
-- is copied into the call's row whenever a report is written (a trigger, like reports_fts above,
-- so every writer of reports keeps it right), and filled in for reports stored before.
ALTER TABLE calls ADD COLUMN silence_secs DOUBLE PRECISION;
CREATE TRIGGER reports_silence_insert AFTER INSERT ON reports BEGIN
    UPDATE calls SET silence_secs = json_extract(new.report, '$.metrics.non_talk_secs') WHERE id = new.call_id;
END;
CREATE TRIGGER reports_silence_update AFTER UPDATE OF report ON reports BEGIN
    UPDATE calls SET silence_secs = json_extract(new.report, '$.metrics.non_talk_secs') WHERE id = new.call_id;
END;
UPDATE calls SET silence_secs = (SELECT json_extract(r.report, '$.metrics.non_talk_secs') FROM reports r WHERE r.call_id = calls.id);

-- The dashboard's per-rule counts join every outcome of the tenant to its call: with call_id and
-- passed in the index the outcomes are read from the index alone (half the time at 10 000 calls).
CREATE INDEX call_rule_outcomes_tenant_call ON call_rule_outcomes (tenant, call_id, rule_id, passed);
