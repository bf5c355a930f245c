import {
  check,
  checkResources,
  cpuQuantity,
  dns1123Label,
  dns1123Subdomain,
  imageReference,
  integerBetween,
  InvalidValueError,
  memoryQuantity,
  postgresIdentifier,
  relativePath,
  runnerDuration,
  seconds,
  wholeSeconds,
  type Check,
  type ContainerResources,
} from './validation';

/**
 * The stack's one configuration: typed, validated, with the platform's defaults. Every setting
 * can be set by an environment variable (`GPU_DEV_…`) or by cdktf context under the `gpuDev`
 * key (`cdktf.json` → `"context": {"gpuDev": {"namespace": "…"}}`); the environment wins.
 * README.md ("Configuration") lists them all.
 */

export const DATABASE_MODES = ['external', 'managed'] as const;
export type DatabaseMode = (typeof DATABASE_MODES)[number];
export const BACKENDS = ['local', 's3'] as const;
export type BackendKind = (typeof BACKENDS)[number];

export interface StackConfig {
  readonly stackName: string;
  readonly namespace: string;
  readonly databaseMode: DatabaseMode;
  readonly createNamespace: boolean;
  readonly databaseHost: string;
  readonly databasePort: number;
  readonly databaseSecret: string;
  readonly runnerImage: string;
  readonly migrationCpuRequest: string;
  readonly migrationMemoryRequest: string;
  readonly migrationCpuLimit: string;
  readonly migrationMemoryLimit: string;
  readonly migrationBackoffLimit: number;
  readonly migrationActiveDeadline: string;
  readonly migrationTimeout: string;
  readonly migrationTtl: string | undefined;
  readonly migrationLockTimeout: string | undefined;
  readonly migrationStatementTimeout: string | undefined;
  readonly apiImage: string;
  readonly apiReplicas: number;
  readonly apiPort: number;
  readonly apiCpuRequest: string;
  readonly apiMemoryRequest: string;
  readonly apiCpuLimit: string;
  readonly apiMemoryLimit: string;
  readonly postgresImage: string;
  readonly postgresUser: string;
  readonly postgresDatabase: string;
  readonly postgresStorage: string;
  readonly postgresStorageClass: string | undefined;
  readonly backend: BackendKind;
  readonly stateFile: string;
  readonly s3Bucket: string | undefined;
  readonly s3Key: string;
  readonly s3Region: string | undefined;
  readonly kubeconfig: string;
  readonly kubeContext: string | undefined;
}

type Parsed<T> = { value: T } | { broken: string };

interface Setting<T> {
  readonly env: string;
  /** A value, or one computed from the settings declared before this one. */
  readonly default: T | ((config: StackConfig) => T);
  readonly parse: (text: string) => Parsed<T>;
  /** One line for README.md. */
  readonly doc: string;
}

function text(...checks: Check<string>[]) {
  return (raw: string): Parsed<string> => {
    for (const c of checks) {
      const broken = c(raw);
      if (broken) return { broken };
    }
    return { value: raw };
  };
}

function optional(...checks: Check<string>[]) {
  return text(...checks) as (raw: string) => Parsed<string | undefined>;
}

function integer(min: number, max: number) {
  const rule = integerBetween(min, max);
  return (raw: string): Parsed<number> => {
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    const broken = rule(n);
    return broken ? { broken } : { value: n };
  };
}

function oneOf<T extends string>(values: readonly T[]) {
  return (raw: string): Parsed<T> =>
    (values as readonly string[]).includes(raw) ? { value: raw as T } : { broken: `must be one of ${values.join(', ')}` };
}

function flag(raw: string): Parsed<boolean> {
  return raw === 'true' || raw === 'false' ? { value: raw === 'true' } : { broken: 'must be true or false' };
}

const nonEmpty: Check<string> = (v) => (v.trim() === v && v.length > 0 ? undefined : 'must be a non-empty value without surrounding spaces');

/** Declaration order matters: a computed default sees the settings above it. */
export const SETTINGS: { readonly [K in keyof StackConfig]: Setting<StackConfig[K]> } = {
  stackName: { env: 'GPU_DEV_STACK_NAME', default: 'gpu-dev', parse: text(dns1123Label), doc: 'CDKTF stack name: the output folder `cdktf.out/stacks/<name>`' },
  namespace: { env: 'GPU_DEV_NAMESPACE', default: 'gpu-controlplane', parse: text(dns1123Label), doc: 'Kubernetes namespace of everything the stack creates' },
  databaseMode: { env: 'GPU_DEV_DATABASE_MODE', default: 'external', parse: oneOf(DATABASE_MODES), doc: '`external`: use an existing PostgreSQL and its secret; `managed`: also deploy PostgreSQL (StatefulSet, secret with a generated password, Service)' },
  createNamespace: { env: 'GPU_DEV_CREATE_NAMESPACE', default: (c) => c.databaseMode === 'managed', parse: flag, doc: 'create the namespace (in external mode it usually exists already)' },
  databaseHost: { env: 'GPU_DEV_DATABASE_HOST', default: 'postgres-primary', parse: text(dns1123Subdomain), doc: 'PostgreSQL host (in managed mode: the name of the Service the stack creates)' },
  databasePort: { env: 'GPU_DEV_DATABASE_PORT', default: 5432, parse: integer(1, 65535), doc: 'PostgreSQL port' },
  databaseSecret: { env: 'GPU_DEV_DATABASE_SECRET', default: 'postgres-credentials', parse: text(dns1123Subdomain), doc: 'Secret with `POSTGRES_USER`, `POSTGRES_PASSWORD`, `POSTGRES_DB` (created by the stack in managed mode)' },
  runnerImage: { env: 'GPU_DEV_RUNNER_IMAGE', default: 'node:20-bookworm-slim', parse: text(imageReference), doc: 'stock Node.js image the migration Job runs the bundled runner on (must have uid 1000; pin a digest in production)' },
  migrationCpuRequest: { env: 'GPU_DEV_MIGRATION_CPU_REQUEST', default: '100m', parse: text(cpuQuantity), doc: 'migration Job CPU request' },
  migrationMemoryRequest: { env: 'GPU_DEV_MIGRATION_MEMORY_REQUEST', default: '96Mi', parse: text(memoryQuantity), doc: 'migration Job memory request' },
  migrationCpuLimit: { env: 'GPU_DEV_MIGRATION_CPU_LIMIT', default: '500m', parse: text(cpuQuantity), doc: 'migration Job CPU limit' },
  migrationMemoryLimit: { env: 'GPU_DEV_MIGRATION_MEMORY_LIMIT', default: '256Mi', parse: text(memoryQuantity), doc: 'migration Job memory limit' },
  migrationBackoffLimit: { env: 'GPU_DEV_MIGRATION_BACKOFF_LIMIT', default: 3, parse: integer(0, 10), doc: 'retries of a failed migration pod (each attempt re-runs the whole bundle in one transaction)' },
  migrationActiveDeadline: { env: 'GPU_DEV_MIGRATION_ACTIVE_DEADLINE', default: '10m', parse: text(wholeSeconds), doc: 'the Job\'s `active_deadline_seconds`: all attempts together' },
  migrationTimeout: { env: 'GPU_DEV_MIGRATION_TIMEOUT', default: '15m', parse: text(wholeSeconds), doc: 'how long `apply` waits for the Job (create/update timeouts); longer than the deadline' },
  migrationTtl: { env: 'GPU_DEV_MIGRATION_TTL', default: undefined, parse: optional(wholeSeconds), doc: '`ttl_seconds_after_finished`; none by default, see "Why the Job has no TTL"' },
  migrationLockTimeout: { env: 'GPU_DEV_MIGRATION_LOCK_TIMEOUT', default: undefined, parse: optional(runnerDuration), doc: 'the runner\'s `MIGRATION_LOCK_TIMEOUT` (runner default `3s`)' },
  migrationStatementTimeout: { env: 'GPU_DEV_MIGRATION_STATEMENT_TIMEOUT', default: undefined, parse: optional(runnerDuration), doc: 'the runner\'s `MIGRATION_STATEMENT_TIMEOUT` (runner default `300s`)' },
  apiImage: { env: 'GPU_DEV_API_IMAGE', default: 'gpu-dev-api:0.1.0', parse: text(imageReference), doc: 'API image' },
  apiReplicas: { env: 'GPU_DEV_API_REPLICAS', default: 2, parse: integer(0, 20), doc: 'API replicas' },
  apiPort: { env: 'GPU_DEV_API_PORT', default: 8000, parse: integer(1024, 65535), doc: 'API container and Service port (unprivileged: the API runs as non-root)' },
  apiCpuRequest: { env: 'GPU_DEV_API_CPU_REQUEST', default: '100m', parse: text(cpuQuantity), doc: 'API CPU request' },
  apiMemoryRequest: { env: 'GPU_DEV_API_MEMORY_REQUEST', default: '128Mi', parse: text(memoryQuantity), doc: 'API memory request' },
  apiCpuLimit: { env: 'GPU_DEV_API_CPU_LIMIT', default: '1', parse: text(cpuQuantity), doc: 'API CPU limit' },
  apiMemoryLimit: { env: 'GPU_DEV_API_MEMORY_LIMIT', default: '512Mi', parse: text(memoryQuantity), doc: 'API memory limit' },
  postgresImage: { env: 'GPU_DEV_POSTGRES_IMAGE', default: 'ghcr.io/pgmq/pg18-pgmq:v1.10.0', parse: text(imageReference), doc: 'managed mode: PostgreSQL 18 image with the PGMQ extension (the PGMQ project\'s image)' },
  postgresUser: { env: 'GPU_DEV_POSTGRES_USER', default: 'gpudev', parse: text(postgresIdentifier), doc: 'managed mode: database user written to the secret' },
  postgresDatabase: { env: 'GPU_DEV_POSTGRES_DB', default: 'gpudev', parse: text(postgresIdentifier), doc: 'managed mode: database name written to the secret' },
  postgresStorage: { env: 'GPU_DEV_POSTGRES_STORAGE', default: '10Gi', parse: text(memoryQuantity), doc: 'managed mode: size of the data volume' },
  postgresStorageClass: { env: 'GPU_DEV_POSTGRES_STORAGE_CLASS', default: undefined, parse: optional(dns1123Subdomain), doc: 'managed mode: StorageClass of the data volume (default: the cluster\'s default)' },
  backend: { env: 'GPU_DEV_BACKEND', default: 'local', parse: oneOf(BACKENDS), doc: 'where Terraform keeps state: `local` file or `s3`' },
  stateFile: { env: 'GPU_DEV_STATE_FILE', default: (c) => `terraform.${c.stackName}.tfstate`, parse: text(relativePath), doc: 'local backend: state file, relative to the project folder (the one holding `cdktf.out`)' },
  s3Bucket: { env: 'GPU_DEV_S3_BUCKET', default: undefined, parse: optional(nonEmpty), doc: 's3 backend: bucket (required with `s3`)' },
  s3Key: { env: 'GPU_DEV_S3_KEY', default: (c) => `${c.stackName}/terraform.tfstate`, parse: text(nonEmpty), doc: 's3 backend: object key' },
  s3Region: { env: 'GPU_DEV_S3_REGION', default: undefined, parse: optional(nonEmpty), doc: 's3 backend: region (required with `s3`)' },
  kubeconfig: { env: 'GPU_DEV_KUBECONFIG', default: '~/.kube/config', parse: text(nonEmpty), doc: 'kubeconfig the Kubernetes provider reads (`~` is expanded by the provider, so no home folder lands in the output)' },
  kubeContext: { env: 'GPU_DEV_KUBE_CONTEXT', default: undefined, parse: optional(nonEmpty), doc: 'kubeconfig context (default: its current context)' },
};

/** The key under which cdktf context carries settings: `{"gpuDev": {"namespace": "…"}}`. */
export const CONTEXT_KEY = 'gpuDev';

export interface ConfigSources {
  /** Usually `process.env`; only `GPU_DEV_…` variables are read. An empty value counts as unset. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** cdktf context (cdktf.json and `CDKTF_CONTEXT_JSON`); only its `gpuDev` object is read. */
  readonly context?: Readonly<Record<string, unknown>>;
}

/** Reads, validates and completes the configuration. Throws InvalidValueError naming the setting. */
export function loadConfig(sources: ConfigSources = {}): StackConfig {
  const env = sources.env ?? {};
  const fromContext = contextSettings(sources.context ?? {});
  const config: Record<string, unknown> = {};
  const subjects: Record<string, string> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as [keyof StackConfig, Setting<unknown>][]) {
    const envValue = env[setting.env];
    const raw = envValue !== undefined && envValue !== '' ? { text: envValue, from: setting.env } : fromContext[key];
    if (!raw) {
      config[key] = typeof setting.default === 'function' ? setting.default(config as unknown as StackConfig) : setting.default;
      subjects[key] = `${setting.env} (setting ${key}${config[key] === undefined ? '' : ', default'})`;
      continue;
    }
    subjects[key] = `${raw.from} (setting ${key})`;
    const parsed = setting.parse(raw.text);
    if ('broken' in parsed) throw new InvalidValueError(subjects[key], raw.text, parsed.broken);
    config[key] = parsed.value;
  }
  return checkCombinations(config as unknown as StackConfig, (key) => subjects[key]);
}

function contextSettings(context: Readonly<Record<string, unknown>>): Partial<Record<keyof StackConfig, { text: string; from: string }>> {
  const section = context[CONTEXT_KEY];
  if (section === undefined) return {};
  if (typeof section !== 'object' || section === null || Array.isArray(section)) {
    throw new InvalidValueError(`cdktf context ${CONTEXT_KEY}`, section, 'must be an object of settings, e.g. {"namespace": "gpu-controlplane"}');
  }
  const found: Partial<Record<keyof StackConfig, { text: string; from: string }>> = {};
  for (const [key, value] of Object.entries(section)) {
    const from = `cdktf context ${CONTEXT_KEY}.${key}`;
    if (!(key in SETTINGS)) throw new InvalidValueError(from, value, `is not a setting; known settings: ${Object.keys(SETTINGS).join(', ')}`);
    if (!['string', 'number', 'boolean'].includes(typeof value)) throw new InvalidValueError(from, value, 'must be a string, number or boolean');
    found[key as keyof StackConfig] = { text: String(value), from };
  }
  return found;
}

/** Rules between settings, checked once every setting has its value. */
function checkCombinations(config: StackConfig, subject: (key: keyof StackConfig) => string): StackConfig {
  for (const prefix of ['migration', 'api'] as const) {
    checkResources(containerResources(config, prefix), (field) => subject(`${prefix}${field[0].toUpperCase()}${field.slice(1)}` as keyof StackConfig));
  }
  check(subject('migrationTimeout'), config.migrationTimeout, (v) =>
    seconds(v) > seconds(config.migrationActiveDeadline)
      ? undefined
      : `must be longer than migrationActiveDeadline (${config.migrationActiveDeadline}), or Terraform stops waiting while the Job may still run`,
  );
  if (config.databaseMode === 'managed') {
    check(subject('databaseHost'), config.databaseHost, (v) => dns1123Label(v) && `names the PostgreSQL Service in managed mode, so it ${dns1123Label(v)}`);
  }
  if (config.backend === 's3') {
    for (const key of ['s3Bucket', 's3Region'] as const) {
      check(subject(key), config[key], (v) => (v ? undefined : 'is required when backend is s3'));
    }
  }
  return config;
}

/** A container's requests and limits from its four settings (`migrationCpuRequest`, …). */
export function containerResources(config: StackConfig, prefix: 'migration' | 'api'): ContainerResources {
  return {
    cpuRequest: config[`${prefix}CpuRequest`],
    memoryRequest: config[`${prefix}MemoryRequest`],
    cpuLimit: config[`${prefix}CpuLimit`],
    memoryLimit: config[`${prefix}MemoryLimit`],
  };
}

/** The platform's defaults, for constructs used on their own (each prop's documented default). */
export const DEFAULTS: StackConfig = loadConfig();
