-- Mailcow mailboxes the hub made, and for whom: a mailbox belongs to exactly one user. The row
-- is written before Mailcow is asked (created_at), so a retry after a crash knows the mailbox
-- is its own; confirmed_at is set once Mailcow has it, and only then is the address released
-- as the user's `email` to a client with email_claim = "mailbox".
CREATE TABLE mailboxes (
    address      TEXT PRIMARY KEY,          -- local_part@domain, lower case
    user_id      TEXT NOT NULL,
    company_id   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    confirmed_at BIGINT
);
CREATE INDEX mailboxes_user ON mailboxes (user_id);
