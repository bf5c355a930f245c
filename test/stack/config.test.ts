import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/build/repository';
import { Duration } from '../../src/kernel/duration';
import { loadStackConfig as loadConfig, SETTINGS } from '../../src/stack/config';
import { GpuDevStack } from '../../src/stack/stack';
import { cdktfContext } from '../../src/stack/synth';
import { runnerBytes, testApp } from '../support/stack';

describe('stack configuration', () => {
  it('when nothing is set, then the platform defaults apply', () => {
    expect(loadConfig()).toEqual({
      stackName: 'gpu-dev',
      namespace: 'gpu-controlplane',
      databaseMode: 'external',
      createNamespace: false,
      databaseHost: 'postgres-primary',
      databasePort: 5432,
      databaseSecret: 'postgres-credentials',
      runnerSource: 'image',
      runnerImage: 'gpu-dev-api:0.1.0',
      migrationCpuRequest: '100m',
      migrationMemoryRequest: '96Mi',
      migrationCpuLimit: '500m',
      migrationMemoryLimit: '256Mi',
      migrationBackoffLimit: 3,
      migrationActiveDeadline: Duration.parse('10m'),
      migrationTimeout: Duration.parse('15m'),
      migrationTtl: undefined,
      migrationLockTimeout: undefined,
      migrationStatementTimeout: undefined,
      migrationJob: true,
      migrationConverge: 'apply',
      migrationAllowServerFiles: false,
      apiImage: 'gpu-dev-api:0.1.0',
      apiReplicas: 2,
      apiPort: 8000,
      apiCpuRequest: '100m',
      apiMemoryRequest: '128Mi',
      apiCpuLimit: '1',
      apiMemoryLimit: '512Mi',
      apiProgressDeadline: Duration.parse('3m'),
      apiRolloutTimeout: Duration.parse('5m'),
      postgresImage: 'ghcr.io/pgmq/pg18-pgmq:v1.10.0',
      postgresUser: 'gpudev',
      postgresDatabase: 'gpudev',
      postgresStorage: '10Gi',
      postgresStorageClass: undefined,
      postgresTimeout: Duration.parse('5m'),
      backend: 'local',
      stateFile: 'terraform.gpu-dev.tfstate',
      s3Bucket: undefined,
      s3Key: 'gpu-dev/terraform.tfstate',
      s3Region: undefined,
      kubeconfig: '~/.kube/config',
      kubeContext: undefined,
    });
  });

  it("when the runner comes from a ConfigMap, then the Job's image defaults to the Node image; set, it is the one given", () => {
    expect(loadConfig({ env: { GPU_DEV_RUNNER_SOURCE: 'configmap' } }).runnerImage).toBe('node:20-bookworm-slim');
    expect(loadConfig({ env: { GPU_DEV_API_IMAGE: 'registry.example.com/gpu-dev-api:2' } }).runnerImage).toBe('registry.example.com/gpu-dev-api:2');
    expect(loadConfig({ env: { GPU_DEV_RUNNER_IMAGE: 'registry.example.com/runner:2' } }).runnerImage).toBe('registry.example.com/runner:2');
  });

  it('when the runner source is neither image nor configmap, then loading fails naming the setting and the choices', () => {
    expect(() => loadConfig({ env: { GPU_DEV_RUNNER_SOURCE: 'registry' } })).toThrow(/GPU_DEV_RUNNER_SOURCE.*"registry".*must be one of image, configmap/);
  });

  it('when set by environment and by cdktf context, then the environment wins over context, context over defaults, and an empty variable counts as unset', () => {
    const config = loadConfig({
      env: { GPU_DEV_NAMESPACE: 'from-env', GPU_DEV_API_REPLICAS: '', GPU_DEV_STACK_NAME: 'staging' },
      context: { gpuDev: { namespace: 'from-context', apiReplicas: 4, databaseMode: 'managed' }, cdktfVersion: '0.21.0' },
    });
    expect(config).toMatchObject({ namespace: 'from-env', apiReplicas: 4, databaseMode: 'managed', stackName: 'staging' });
    // Computed defaults follow the settings they depend on.
    expect(config).toMatchObject({ createNamespace: true, stateFile: 'terraform.staging.tfstate', s3Key: 'staging/terraform.tfstate' });
    expect(loadConfig({ env: { GPU_DEV_DATABASE_MODE: 'managed', GPU_DEV_CREATE_NAMESPACE: 'false' } }).createNamespace).toBe(false);
  });

  it('when durations are set, then they are parsed once into Durations that keep the text as written', () => {
    const config = loadConfig({
      env: { GPU_DEV_MIGRATION_LOCK_TIMEOUT: '500ms', GPU_DEV_MIGRATION_TTL: '300s' },
      context: { gpuDev: { migrationStatementTimeout: '1.5m' } },
    });
    expect(config.migrationLockTimeout).toBeInstanceOf(Duration);
    expect([config.migrationLockTimeout?.milliseconds, String(config.migrationLockTimeout)]).toEqual([500, '500ms']);
    expect([config.migrationTtl?.toSeconds(), String(config.migrationTtl)]).toEqual([300, '300s']);
    expect([config.migrationStatementTimeout?.milliseconds, String(config.migrationStatementTimeout)]).toEqual([90_000, '1.5m']);
  });

  it.each([
    [{ GPU_DEV_NAMESPACE: 'GPU_Controlplane' }, 'GPU_DEV_NAMESPACE (setting namespace) = "GPU_Controlplane": must be a DNS-1123 label'],
    [{ GPU_DEV_DATABASE_MODE: 'rds' }, 'GPU_DEV_DATABASE_MODE (setting databaseMode) = "rds": must be one of external, managed'],
    [{ GPU_DEV_API_REPLICAS: '2.5' }, 'GPU_DEV_API_REPLICAS (setting apiReplicas) = "2.5": must be a whole number from 0 to 20'],
    [{ GPU_DEV_DATABASE_PORT: '70000' }, 'GPU_DEV_DATABASE_PORT (setting databasePort) = "70000": must be a whole number from 1 to 65535'],
    [{ GPU_DEV_CREATE_NAMESPACE: 'yes' }, 'GPU_DEV_CREATE_NAMESPACE (setting createNamespace) = "yes": must be true or false'],
    [{ GPU_DEV_API_IMAGE: 'gpu dev api' }, 'GPU_DEV_API_IMAGE (setting apiImage) = "gpu dev api": must be an image reference'],
    [
      { GPU_DEV_MIGRATION_MEMORY_LIMIT: '256MB' },
      'GPU_DEV_MIGRATION_MEMORY_LIMIT (setting migrationMemoryLimit) = "256MB": must be a positive memory quantity',
    ],
    [{ GPU_DEV_MIGRATION_TTL: '1h' }, 'GPU_DEV_MIGRATION_TTL (setting migrationTtl) = "1h": must be a duration such as 500ms, 3s or 5m'],
    [
      { GPU_DEV_MIGRATION_LOCK_TIMEOUT: '25h' },
      'GPU_DEV_MIGRATION_LOCK_TIMEOUT (setting migrationLockTimeout) = "25h": must be a duration such as 500ms, 3s or 5m (between 1ms and 24h)',
    ],
    [{ GPU_DEV_STATE_FILE: '/home/me/state.tfstate' }, 'GPU_DEV_STATE_FILE (setting stateFile) = "/home/me/state.tfstate": must be a relative path'],
    [{ GPU_DEV_POSTGRES_USER: 'Admin' }, 'GPU_DEV_POSTGRES_USER (setting postgresUser) = "Admin": must be a lower-case PostgreSQL identifier'],
  ])('when a setting breaks its rule (%j), then loading refuses naming the setting, the value and the rule', (env, message) => {
    expect(() => loadConfig({ env })).toThrow(message);
  });

  it.each([
    [{ GPU_DEV_API_MEMORY_REQUEST: '1Gi' }, 'GPU_DEV_API_MEMORY_REQUEST (setting apiMemoryRequest) = "1Gi": must not exceed the memory limit 512Mi'],
    [
      { GPU_DEV_MIGRATION_CPU_LIMIT: '50m' },
      'GPU_DEV_MIGRATION_CPU_REQUEST (setting migrationCpuRequest, default) = "100m": must not exceed the CPU limit 50m',
    ],
    [{ GPU_DEV_BACKEND: 's3', GPU_DEV_S3_REGION: 'us-east-2' }, 'GPU_DEV_S3_BUCKET (setting s3Bucket) is not set: it is required when backend is s3'],
    [
      { GPU_DEV_DATABASE_MODE: 'managed', GPU_DEV_DATABASE_HOST: 'db.example.com' },
      'GPU_DEV_DATABASE_HOST (setting databaseHost) = "db.example.com": names the PostgreSQL Service in managed mode, so it must be a DNS-1123 label',
    ],
  ])('when settings contradict each other (%j), then loading refuses naming the setting', (env, message) => {
    expect(() => loadConfig({ env })).toThrow(message);
  });

  // Whole seconds and the wait outlasting the deadline are Kubernetes' rules on the Job, checked by
  // DatabaseMigration alone: loading keeps the Durations, building the stack refuses them, naming
  // the setting (and where it came from) as loading does.
  it.each([
    [
      { env: { GPU_DEV_MIGRATION_ACTIVE_DEADLINE: '1500ms' } },
      'GPU_DEV_MIGRATION_ACTIVE_DEADLINE (setting migrationActiveDeadline) = "1500ms": must be a whole number of seconds',
    ],
    [
      { env: { GPU_DEV_MIGRATION_TTL: '1500ms' } },
      'GPU_DEV_MIGRATION_TTL (setting migrationTtl) = "1500ms": must be a whole number of seconds, such as 90s or 15m',
    ],
    [
      { env: { GPU_DEV_MIGRATION_TIMEOUT: '900500ms' } },
      'GPU_DEV_MIGRATION_TIMEOUT (setting migrationTimeout) = "900500ms": must be a whole number of seconds',
    ],
    [
      { env: { GPU_DEV_MIGRATION_ACTIVE_DEADLINE: '20m' } },
      'GPU_DEV_MIGRATION_TIMEOUT (setting migrationTimeout, default) = "15m": must be longer than migrationActiveDeadline (20m), or Terraform stops waiting while the Job may still run',
    ],
    [
      { context: { gpuDev: { migrationTimeout: '5m' } } },
      'cdktf context gpuDev.migrationTimeout (setting migrationTimeout) = "5m": must be longer than migrationActiveDeadline (10m)',
    ],
  ])(
    'when a duration breaks a rule of the Job (%j), then loading keeps it and building the stack refuses, naming the setting, the value and the rule',
    (sources, message) => {
      const config = loadConfig(sources);
      expect(() => new GpuDevStack(testApp(), 'gpu-dev', { runnerBytes: runnerBytes(), config })).toThrow(message);
    },
  );

  it('when cdktf context holds an unknown or malformed setting, then loading refuses naming the context key', () => {
    expect(() => loadConfig({ context: { gpuDev: { namespase: 'x' } } })).toThrow(
      'cdktf context gpuDev.namespase = "x": is not a setting; known settings: stackName, namespace,',
    );
    expect(() => loadConfig({ context: { gpuDev: { apiReplicas: [2] } } })).toThrow(
      'cdktf context gpuDev.apiReplicas = [2]: must be a string, number or boolean',
    );
    expect(() => loadConfig({ context: { gpuDev: 'managed' } })).toThrow('cdktf context gpuDev = "managed": must be an object of settings');
  });

  it('when context is in cdktf.json and in CDKTF_CONTEXT_JSON, then the CLI variable wins, and malformed JSON is refused by name', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'gpu-dev-context-'));
    writeFileSync(join(cwd, 'cdktf.json'), JSON.stringify({ app: 'x', context: { gpuDev: { namespace: 'from-file' }, other: 1 } }));
    expect(cdktfContext({}, cwd)).toEqual({ gpuDev: { namespace: 'from-file' }, other: 1 });
    expect(cdktfContext({ CDKTF_CONTEXT_JSON: '{"gpuDev":{"namespace":"from-cli"}}' }, cwd)).toEqual({ gpuDev: { namespace: 'from-cli' }, other: 1 });
    expect(cdktfContext({}, mkdtempSync(join(tmpdir(), 'gpu-dev-no-cdktf-json-')))).toEqual({});
    expect(() => cdktfContext({ CDKTF_CONTEXT_JSON: '{gpuDev:' }, cwd)).toThrow('CDKTF_CONTEXT_JSON = "{gpuDev:": must be JSON (');
  });

  it('when docs/configuration.md is read, then its table documents every setting', () => {
    const readme = readFileSync(join(REPO_ROOT, 'docs', 'configuration.md'), 'utf8');
    const undocumented = Object.entries(SETTINGS).filter(([key, s]) => !readme.includes(`| \`${s.env}\` | \`${key}\` |`));
    expect(undocumented.map(([key]) => key)).toEqual([]);
  });
});
