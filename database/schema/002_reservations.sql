-- 002_reservations.sql
-- GPU reservations (jobs), their indexes and the trigger that keeps updated_at current.
-- Must run before 003_disks.sql: disks.reservation_id references reservations.
-- Every statement is re-runnable; names and types match the platform's existing databases.

CREATE TABLE IF NOT EXISTS reservations (
    reservation_id VARCHAR(255) PRIMARY KEY,
    user_id VARCHAR(255) NOT NULL,
    status VARCHAR(50) NOT NULL,
    gpu_type VARCHAR(50),
    gpu_count INTEGER,
    instance_type VARCHAR(100),
    duration_hours FLOAT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    launched_at TIMESTAMPTZ,
    expires_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    name VARCHAR(255),
    github_user VARCHAR(255),
    pod_name VARCHAR(255),
    namespace VARCHAR(100) DEFAULT 'default',
    node_ip VARCHAR(50),
    node_port INTEGER,
    ssh_command TEXT,
    jupyter_enabled BOOLEAN DEFAULT false,
    jupyter_url TEXT,
    jupyter_port INTEGER,
    jupyter_token VARCHAR(255),
    jupyter_error TEXT,
    ebs_volume_id VARCHAR(255),
    disk_name VARCHAR(255),
    failure_reason TEXT,
    current_detailed_status TEXT,
    status_history JSONB DEFAULT '[]'::jsonb,
    pod_logs TEXT,
    warning TEXT,
    secondary_users JSONB DEFAULT '[]'::jsonb,
    is_multinode BOOLEAN DEFAULT false,
    master_reservation_id VARCHAR(255),
    node_index INTEGER,
    total_nodes INTEGER,
    cli_version VARCHAR(50)
);

CREATE INDEX IF NOT EXISTS idx_reservations_user_id
    ON reservations(user_id);

CREATE INDEX IF NOT EXISTS idx_reservations_user_status
    ON reservations(user_id, status);

CREATE INDEX IF NOT EXISTS idx_reservations_status
    ON reservations(status);

CREATE INDEX IF NOT EXISTS idx_reservations_gpu_type_status
    ON reservations(gpu_type, status);

CREATE INDEX IF NOT EXISTS idx_reservations_created_at
    ON reservations(created_at DESC);

CREATE INDEX IF NOT EXISTS idx_reservations_expires_at
    ON reservations(expires_at);

CREATE INDEX IF NOT EXISTS idx_reservations_master_id
    ON reservations(master_reservation_id) WHERE master_reservation_id IS NOT NULL;

CREATE OR REPLACE FUNCTION update_reservations_updated_at()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS trigger_reservations_updated_at ON reservations;

CREATE TRIGGER trigger_reservations_updated_at
    BEFORE UPDATE ON reservations
    FOR EACH ROW
    EXECUTE FUNCTION update_reservations_updated_at();
