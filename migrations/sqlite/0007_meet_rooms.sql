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

-- A room's recordings: one LiveKit egress each, uploaded to `[meet.recordings]`'s bucket at
-- `s3_key`. Written when the egress starts (`recording`); LiveKit's `egress_ended` webhook gives
-- the outcome (`complete` with duration and size, or `failed` with LiveKit's error).
CREATE TABLE meet_recordings (
    id               TEXT PRIMARY KEY,
    room_id          TEXT NOT NULL REFERENCES meet_rooms (id),
    company_id       TEXT NOT NULL,
    egress_id        TEXT NOT NULL UNIQUE,
    status           TEXT NOT NULL,          -- recording | complete | failed
    s3_key           TEXT NOT NULL,
    started_by       TEXT NOT NULL,
    started_at       BIGINT NOT NULL,
    ended_at         BIGINT,
    duration_seconds BIGINT,
    size_bytes       BIGINT,
    error            TEXT
);
CREATE INDEX meet_recordings_room ON meet_recordings (room_id, started_at);
-- One recording at a time per room: a second start loses here, whoever asked first.
CREATE UNIQUE INDEX meet_recordings_one_running ON meet_recordings (room_id)
    WHERE status = 'recording';
