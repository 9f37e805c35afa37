-- Refresh-token families, one row per login's chain of rotated refresh tokens. A rotation and
-- a revocation both go through this row, so that a revocation cannot miss a token that a
-- rotation in flight is adding (src/store/sso.rs, Db::record_grant and revoke_families), and
-- the family's end is fixed at its first grant however often it is rotated.
CREATE TABLE refresh_families (
    family_id  TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    session_id TEXT,
    code_hash  TEXT,                        -- the code the family came from
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX refresh_families_session ON refresh_families (session_id);
CREATE INDEX refresh_families_code ON refresh_families (code_hash);

-- The families of the refresh tokens already stored. A family ends when its newest token would
-- have, so nothing stored today expires earlier than it did. Every revocation so far was meant
-- for whole families (reuse, the revocation endpoint, a replayed code, an ended session), so a
-- family with any revoked token is revoked: that also ends a token that outran its revocation.
INSERT INTO refresh_families (family_id, client_id, user_id, session_id, code_hash, created_at, expires_at, revoked_at)
SELECT family_id, MIN(client_id), MIN(user_id), MIN(session_id), MIN(code_hash), MIN(created_at), MAX(expires_at),
       MIN(revoked_at)
FROM refresh_tokens
GROUP BY family_id;

-- Browser sessions are looked up by a SHA-256 hash of the cookie's id from now on, so that a
-- read of this table gives no live cookie. The ids stored so far are the cookies themselves and
-- cannot be hashed here (SQLite has no SHA-256): those sessions end, and their browsers log in
-- again. SSO sessions and tokens already issued to relying parties are not touched.
DELETE FROM http_sessions;
