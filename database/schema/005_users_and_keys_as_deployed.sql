-- 005_users_and_keys_as_deployed.sql
-- 001_users_and_keys.sql now declares api_users and api_keys as the platform's deployed SQL
-- does. Databases that 001 created before kept the old definitions (IF NOT EXISTS skips
-- existing objects); this file gives them the same. On a database the present 001 created, it
-- leaves the catalog as it was. Every statement is re-runnable.

-- The platform wrote CURRENT_TIMESTAMP: the same value as now(), but a different catalog text.
-- Setting a default again is a no-op, which squawk's prefer-robust-stmts does not know.
-- squawk-ignore prefer-robust-stmts
ALTER TABLE api_users ALTER COLUMN created_at SET DEFAULT CURRENT_TIMESTAMP;
-- squawk-ignore prefer-robust-stmts
ALTER TABLE api_keys ALTER COLUMN created_at SET DEFAULT CURRENT_TIMESTAMP;

-- The platform's predicate also leaves revoked keys out. An index keeps its definition under
-- CREATE INDEX IF NOT EXISTS, so the new one is built under a temporary name, the old one is
-- dropped, and the new one takes the name, all in the run's transaction. Names cannot tell the
-- old definition from the new, so this rebuilds the index on every run; api_keys is small.
CREATE INDEX IF NOT EXISTS idx_api_keys_expires_at_rebuilt
    ON api_keys(expires_at) WHERE is_active = true AND expires_at IS NOT NULL;

DROP INDEX IF EXISTS idx_api_keys_expires_at;

ALTER INDEX IF EXISTS idx_api_keys_expires_at_rebuilt RENAME TO idx_api_keys_expires_at;
