-- Bheem Calendar: the hub's record of the events made or changed through /api/v1/calendar that
-- have attendees or a Meet room. The event itself is in the organizer's Nextcloud calendar (the
-- source of truth); this is what updates and deletions need to know what to change elsewhere:
-- whom the invitations went to (so those taken off get a CANCEL), the SEQUENCE sent last, the
-- Meet room, and the event's title and times as the room has them. Every row carries its
-- company and each query is scoped by it. A deleted event keeps its row (`deleted_at` set) for
-- the outbox job that cancels its room.
CREATE TABLE calendar_events (
    company_id        TEXT NOT NULL,
    organizer_user_id TEXT NOT NULL,         -- the directory's id of the organizer
    uid               TEXT NOT NULL,         -- the iCalendar UID
    calendar          TEXT NOT NULL,         -- the organizer's calendar holding it
    resource          TEXT NOT NULL,         -- its name there ({uid}.ics)
    title             TEXT NOT NULL,
    starts_at         BIGINT NOT NULL,       -- Unix seconds (an all-day event: its first midnight, UTC)
    duration_minutes  BIGINT NOT NULL,
    room_id           TEXT,                  -- the Meet room, when the event has one
    sequence          BIGINT NOT NULL,       -- RFC 5545 SEQUENCE of the last invitation
    deleted_at        BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (company_id, organizer_user_id, uid)
);

-- Whom an event invites, by e-mail address in lower case.
CREATE TABLE calendar_event_attendees (
    company_id        TEXT NOT NULL,
    organizer_user_id TEXT NOT NULL,
    uid               TEXT NOT NULL,
    email             TEXT NOT NULL,
    PRIMARY KEY (company_id, organizer_user_id, uid, email),
    FOREIGN KEY (company_id, organizer_user_id, uid)
        REFERENCES calendar_events (company_id, organizer_user_id, uid) ON DELETE CASCADE
);
