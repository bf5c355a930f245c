-- 001_users_and_keys.sql
-- API users and their API keys (authentication).
-- Applied first: api_keys references api_users, and later files may reference either.
-- Every statement is re-runnable; names and types match the platform's existing databases.

CREATE TABLE IF NOT EXISTS api_users (
    user_id SERIAL PRIMARY KEY,
    username VARCHAR(255) UNIQUE NOT NULL,
    email VARCHAR(255),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    is_active BOOLEAN DEFAULT true
);

CREATE TABLE IF NOT EXISTS api_keys (
    key_id SERIAL PRIMARY KEY,
    user_id INTEGER REFERENCES api_users(user_id) ON DELETE CASCADE,
    key_hash VARCHAR(128) UNIQUE NOT NULL,
    key_prefix VARCHAR(16) NOT NULL,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    expires_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    is_active BOOLEAN DEFAULT true,
    description TEXT
);

CREATE INDEX IF NOT EXISTS idx_api_keys_hash
    ON api_keys(key_hash) WHERE is_active = true;

CREATE INDEX IF NOT EXISTS idx_api_keys_user_id
    ON api_keys(user_id) WHERE is_active = true;

CREATE INDEX IF NOT EXISTS idx_api_keys_expires_at
    ON api_keys(expires_at) WHERE is_active = true AND expires_at IS NOT NULL;

CREATE INDEX IF NOT EXISTS idx_api_users_username
    ON api_users(username);
