-- The signing keys of the deployment, shared by every node (docs/operating/keys.md). The private
-- key is encrypted with AES-256-GCM under the key-encryption key every node holds (the kid is the
-- associated data); what `keys list` shows is in plaintext. `generation` orders the keys and is
-- UNIQUE: of two nodes adding a key at once, one insert fails and that node loads the other's.
-- Times are Unix seconds; a key signs from `signs_from` on, and is published from `created_at`.
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    generation  BIGINT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    signs_from  BIGINT NOT NULL,
    bits        BIGINT NOT NULL,
    -- base64 of the 96-bit nonce, and of the ciphertext (with its tag) of the PKCS#8 DER key.
    nonce       TEXT NOT NULL,
    private_key TEXT NOT NULL
);
