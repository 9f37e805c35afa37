-- Browser sessions (tower-sessions records): the cookie names a row here, never data itself.
CREATE TABLE http_sessions (
    id          TEXT PRIMARY KEY,
    data        TEXT NOT NULL,               -- JSON
    expiry_date INTEGER NOT NULL
);
CREATE INDEX http_sessions_expiry ON http_sessions (expiry_date);

-- What userinfo must answer for an access token: its scope and the `claims` request.
ALTER TABLE access_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE access_tokens ADD COLUMN claims TEXT;
ALTER TABLE refresh_tokens ADD COLUMN claims TEXT;

-- A refresh token may outlive the code row's lifetime; the family keeps the code's hash.
CREATE INDEX refresh_tokens_code ON refresh_tokens (code_hash);
CREATE INDEX access_tokens_family ON access_tokens (family_id);
