-- Bheem Meet's rooms (the workspace's /api/v1/meet). Every row carries its company: each query
-- is scoped by it, so another company's room reads as a missing one. `version` goes up with
-- every change, so each change gets its own ERP-sync job (the outbox keys jobs by it) while a
-- job that runs late still sends the room as it is then.
CREATE TABLE meet_rooms (
    id               TEXT PRIMARY KEY,       -- bhm-xxxxx-xxxxx-xxxxx, unguessable
    company_id       TEXT NOT NULL,
    name             TEXT NOT NULL,
    host_user_id     TEXT NOT NULL,
    status           TEXT NOT NULL,          -- scheduled | active | completed
    scheduled_time   BIGINT,                 -- Unix seconds
    duration_minutes BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    version          BIGINT NOT NULL
);
CREATE INDEX meet_rooms_company ON meet_rooms (company_id, created_at);
CREATE INDEX meet_rooms_host ON meet_rooms (host_user_id, created_at);

-- Who a room's host invited, by e-mail address in lower case.
CREATE TABLE meet_participants (
    room_id TEXT NOT NULL REFERENCES meet_rooms (id) ON DELETE CASCADE,
    email   TEXT NOT NULL,
    PRIMARY KEY (room_id, email)
);
CREATE INDEX meet_participants_email ON meet_participants (email);
