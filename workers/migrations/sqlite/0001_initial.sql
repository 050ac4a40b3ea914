-- Times are integer Unix seconds (UTC) on both backends; JSON is stored as text; ids are UUID v7
-- text, so they sort by creation time. Keep this table DDL identical in sqlite/ and postgres/.

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    role        TEXT NOT NULL,
    key_sha256  TEXT NOT NULL UNIQUE,
    label       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant);

CREATE TABLE calls (
    id                        TEXT PRIMARY KEY,
    tenant                    TEXT NOT NULL,
    external_call_id          TEXT,
    agent_id                  TEXT,
    team                      TEXT,
    customer_id               TEXT,
    script_id                 TEXT,
    script_version            BIGINT,
    language_hint             TEXT,
    channel_layout            TEXT,
    metadata                  TEXT NOT NULL,
    audio_path                TEXT NOT NULL,
    audio_bytes               BIGINT NOT NULL,
    audio_sha256              TEXT NOT NULL,
    status                    TEXT NOT NULL,
    error                     TEXT,
    created_at                BIGINT NOT NULL,
    analyzed_at               BIGINT,
    duration_secs             DOUBLE PRECISION,
    flagged                   BOOLEAN,
    compliance_score          DOUBLE PRECISION,
    failed_rules              BIGINT,
    customer_sentiment_label  TEXT,
    customer_sentiment_score  DOUBLE PRECISION,
    UNIQUE (tenant, external_call_id)
);
CREATE INDEX calls_tenant_created ON calls (tenant, created_at);
CREATE INDEX calls_tenant_agent ON calls (tenant, agent_id, created_at);
CREATE INDEX calls_tenant_team ON calls (tenant, team, created_at);

CREATE TABLE reports (
    call_id          TEXT PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
    tenant           TEXT NOT NULL,
    report           TEXT NOT NULL,
    transcript_text  TEXT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE call_rule_outcomes (
    call_id   TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    tenant    TEXT NOT NULL,
    rule_id   TEXT NOT NULL,
    passed    BOOLEAN NOT NULL,
    severity  TEXT,
    score     DOUBLE PRECISION,
    evidence  TEXT,
    PRIMARY KEY (call_id, rule_id)
);
CREATE INDEX call_rule_outcomes_tenant_rule ON call_rule_outcomes (tenant, rule_id, passed);

CREATE TABLE scripts (
    tenant      TEXT NOT NULL,
    script_id   TEXT NOT NULL,
    version     BIGINT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    deleted_at  BIGINT,
    PRIMARY KEY (tenant, script_id, version)
);

CREATE TABLE reviews (
    id               TEXT PRIMARY KEY,
    tenant           TEXT NOT NULL,
    call_id          TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    reviewer_key_id  TEXT NOT NULL,
    verdicts         TEXT NOT NULL,
    note             TEXT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX reviews_tenant_call ON reviews (tenant, call_id);

-- Biometric audit trail: who did what to which speaker, with the outcome. Never audio.
CREATE TABLE audit (
    id            TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL,
    actor_key_id  TEXT,
    action        TEXT NOT NULL,
    speaker_id    TEXT,
    outcome       TEXT NOT NULL,
    score         DOUBLE PRECISION,
    details       TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX audit_tenant_created ON audit (tenant, created_at);
CREATE INDEX audit_tenant_speaker ON audit (tenant, speaker_id);

CREATE TABLE speakers (
    tenant          TEXT NOT NULL,
    speaker_id      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    voiceprint_ids  TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    deleted_at      BIGINT,
    PRIMARY KEY (tenant, speaker_id)
);

CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    deleted_at  BIGINT
);
CREATE INDEX webhooks_tenant ON webhooks (tenant);

CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    tenant           TEXT NOT NULL,
    webhook_id       TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event            TEXT NOT NULL,
    payload          TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    state            TEXT NOT NULL,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);

CREATE TABLE jobs (
    id                TEXT PRIMARY KEY,
    tenant            TEXT NOT NULL,
    call_id           TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    kind              TEXT NOT NULL,
    state             TEXT NOT NULL,
    attempts          BIGINT NOT NULL,
    max_attempts      BIGINT NOT NULL,
    lease_owner       TEXT,
    lease_expires_at  BIGINT,
    not_before        BIGINT NOT NULL,
    last_error        TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX jobs_runnable ON jobs (state, not_before, created_at);
CREATE INDEX jobs_call ON jobs (call_id);

-- Full-text search over transcripts: an external-content FTS5 table kept in sync by triggers
-- (an upsert of a report fires the update trigger).
CREATE VIRTUAL TABLE reports_fts USING fts5 (transcript_text, content = 'reports', content_rowid = 'rowid');
CREATE TRIGGER reports_fts_insert AFTER INSERT ON reports BEGIN
    INSERT INTO reports_fts (rowid, transcript_text) VALUES (new.rowid, new.transcript_text);
END;
CREATE TRIGGER reports_fts_delete AFTER DELETE ON reports BEGIN
    INSERT INTO reports_fts (reports_fts, rowid, transcript_text) VALUES ('delete', old.rowid, old.transcript_text);
END;
CREATE TRIGGER reports_fts_update AFTER UPDATE ON reports BEGIN
    INSERT INTO reports_fts (reports_fts, rowid, transcript_text) VALUES ('delete', old.rowid, old.transcript_text);
    INSERT INTO reports_fts (rowid, transcript_text) VALUES (new.rowid, new.transcript_text);
END;
