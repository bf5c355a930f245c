-- 004_gpu_types.sql
-- GPU type configuration (one row per GPU type the platform offers) and the trigger that
-- keeps updated_at current. The rows themselves live in fixtures/001_initial_gpu_types.sql,
-- which runs after all schema files.
-- Every statement is re-runnable; names and types match the platform's existing databases.

CREATE TABLE IF NOT EXISTS gpu_types (
    gpu_type VARCHAR(50) PRIMARY KEY,
    instance_type VARCHAR(100) NOT NULL,
    max_gpus INTEGER NOT NULL,
    cpus INTEGER NOT NULL,
    memory_gb INTEGER NOT NULL,
    total_cluster_gpus INTEGER DEFAULT 0,
    max_per_node INTEGER,
    is_active BOOLEAN DEFAULT true,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    description TEXT
);

CREATE INDEX IF NOT EXISTS idx_gpu_types_active
    ON gpu_types(is_active) WHERE is_active = true;

CREATE OR REPLACE FUNCTION update_gpu_types_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS update_gpu_types_updated_at ON gpu_types;

CREATE TRIGGER update_gpu_types_updated_at
    BEFORE UPDATE ON gpu_types
    FOR EACH ROW
    EXECUTE FUNCTION update_gpu_types_updated_at_column();
