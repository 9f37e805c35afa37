-- The audit trail: one row per security event (docs/operating/audit.md). Rows are only ever
-- added, and removed by the retention pruning; the trigger below refuses any change to one.
-- Times are Unix seconds like everywhere else; `detail` is a JSON object as text.
CREATE TABLE audit_events (
    -- The rowid: no AUTOINCREMENT, whose sequence table is one more write per batch. Pruning
    -- removes the oldest rows, so the largest id stays and ids are never given out again.
    id          INTEGER PRIMARY KEY,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    user_id     TEXT,
    company_id  TEXT,
    client_id   TEXT,
    client_addr TEXT,
    user_agent  TEXT,
    request_id  TEXT,
    detail      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_user ON audit_events (user_id, at);
CREATE INDEX audit_events_company ON audit_events (company_id, at);
CREATE INDEX audit_events_kind ON audit_events (kind, at);

CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
