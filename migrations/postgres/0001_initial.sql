-- The provider's own state. Times are Unix seconds; ids are text (UUIDs or random tokens);
-- secrets (codes, refresh tokens, client secrets) are stored only as SHA-256 hashes.

-- Users of the embedded directory (LocalDirectory). The ERP's auth.users is never copied here.
CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    email               TEXT NOT NULL,
    email_normalized    TEXT NOT NULL UNIQUE,
    username            TEXT,
    username_normalized TEXT UNIQUE,
    display_name        TEXT NOT NULL,
    company_id          TEXT NOT NULL,
    role                TEXT NOT NULL,
    active              BIGINT NOT NULL DEFAULT 1,
    password_hash       TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

-- Relying parties, synchronised from the config file at start.
CREATE TABLE clients (
    client_id                  TEXT PRIMARY KEY,
    name                       TEXT NOT NULL,
    secret_hash                TEXT,
    redirect_uris              TEXT NOT NULL,   -- JSON array
    post_logout_redirect_uris  TEXT NOT NULL,   -- JSON array
    backchannel_logout_uri     TEXT,
    token_endpoint_auth_method TEXT NOT NULL,
    grant_types                TEXT NOT NULL,   -- JSON array
    skip_consent               BIGINT NOT NULL,
    require_pkce               BIGINT NOT NULL,
    allowed_company_ids        TEXT NOT NULL,   -- JSON array; empty: all companies
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL
);

-- SSO sessions: one per browser login; `id` is the `sid` claim.
CREATE TABLE sso_sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    company_id   TEXT NOT NULL,
    auth_time    BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    ended_at     BIGINT,
    end_reason   TEXT
);
CREATE INDEX sso_sessions_user ON sso_sessions (user_id);

-- Clients that received tokens within a session: who gets a back-channel logout token.
CREATE TABLE session_clients (
    session_id TEXT NOT NULL REFERENCES sso_sessions (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    first_at   BIGINT NOT NULL,
    PRIMARY KEY (session_id, client_id)
);

CREATE TABLE authorization_codes (
    code_hash             TEXT PRIMARY KEY,
    client_id             TEXT NOT NULL,
    user_id               TEXT NOT NULL,
    session_id            TEXT,
    redirect_uri          TEXT NOT NULL,
    scope                 TEXT NOT NULL,
    nonce                 TEXT,
    code_challenge        TEXT,
    code_challenge_method TEXT,
    claims                TEXT,             -- the `claims` request parameter, JSON
    auth_time             BIGINT NOT NULL,
    created_at            BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL,
    used_at               BIGINT
);

-- Refresh tokens: rotated on use; a family shares `family_id`, revoked whole on reuse.
CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    family_id   TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    session_id  TEXT,
    code_hash   TEXT,                        -- the code the family came from
    scope       TEXT NOT NULL,
    auth_time   BIGINT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    rotated_at  BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Access tokens are self-contained JWTs; this registry lets userinfo and introspection see
-- revocation, code replay and ended sessions.
CREATE TABLE access_tokens (
    jti        TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    user_id    TEXT,
    session_id TEXT,
    code_hash  TEXT,
    family_id  TEXT,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX access_tokens_session ON access_tokens (session_id);
CREATE INDEX access_tokens_code ON access_tokens (code_hash);

-- Remembered consent per user, client and scope set.
CREATE TABLE consents (
    user_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- Durable outbox: provisioning and back-channel logout jobs, retried with backoff.
CREATE TABLE outbox (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    dedupe_key   TEXT NOT NULL UNIQUE,
    payload      TEXT NOT NULL,             -- JSON
    state        TEXT NOT NULL,             -- pending | running | done | failed
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
