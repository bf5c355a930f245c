import { CONVERGE_MODES, DEFAULT_CONVERGE_MODE, type ConvergeMode } from '../kernel/converge-mode';
import { Duration, InvalidDurationError } from '../kernel/duration';
import { API_RESOURCES, API_SERVICE_PROPS } from './constructs/api-service';
import {
  DATABASE_MIGRATION_PROPS,
  DEFAULT_RUNNER_SOURCE,
  MIGRATION_RESOURCES,
  NODE_IMAGE,
  RUNNER_SOURCES,
  type RunnerSource,
} from './constructs/database-migration';
import { MANAGED_POSTGRES_PROPS } from './constructs/managed-postgres';
import { DATABASE_HOST, DATABASE_PORT, DATABASE_SECRET, NAMESPACE } from './constructs/pod-spec';
import {
  check,
  checkResources,
  cpuQuantity,
  dns1123Label,
  InvalidValueError,
  memoryQuantity,
  relativePath,
  type Check,
  type ContainerResources,
  type PropName,
  type PropSpec,
} from './validation';

/**
 * The stack's one configuration: parsed and validated once, here, with the platform's defaults
 * (the Job's own rules on its durations are DatabaseMigration's: see below).
 * Every setting can be set by an environment variable (`GPU_DEV_…`) or by cdktf context under
 * the `gpuDev` key (`cdktf.json` → `"context": {"gpuDev": {"namespace": "…"}}`); the environment
 * wins. Numbers, flags, modes and durations are typed (a duration is the kernel's Duration,
 * parsed here once; the constructs take it as it is); Kubernetes quantities keep the text they
 * were written in, as the constructs' props take them. docs/configuration.md's table is
 * settingsTable().
 *
 * Where a duration's rules live: its form and range (a number with ms, s or m; 1ms to 24h) at
 * the type's edge, Duration.parse, here. What Kubernetes adds (whole seconds for the Job's
 * deadline, wait and TTL; the wait longer than the deadline) only DatabaseMigration checks: it is
 * the one place that sees those values for every user, direct TypeScript users included. The
 * stack has its refusals name the setting (settingName), so `npm run synth` still says
 * `GPU_DEV_MIGRATION_TIMEOUT (setting migrationTimeout) = "5m": …`, only when the stack is built
 * rather than when the settings are loaded.
 */

const DATABASE_MODES = ['external', 'managed'] as const;
type DatabaseMode = (typeof DATABASE_MODES)[number];
const BACKENDS = ['local', 's3'] as const;
type BackendKind = (typeof BACKENDS)[number];

export interface StackConfig {
  readonly stackName: string;
  readonly namespace: string;
  readonly databaseMode: DatabaseMode;
  readonly createNamespace: boolean;
  readonly databaseHost: string;
  readonly databasePort: number;
  readonly databaseSecret: string;
  readonly apiImage: string;
  readonly runnerSource: RunnerSource;
  readonly runnerImage: string;
  readonly migrationCpuRequest: string;
  readonly migrationMemoryRequest: string;
  readonly migrationCpuLimit: string;
  readonly migrationMemoryLimit: string;
  readonly migrationBackoffLimit: number;
  readonly migrationActiveDeadline: Duration;
  readonly migrationTimeout: Duration;
  readonly migrationTtl: Duration | undefined;
  readonly migrationLockTimeout: Duration | undefined;
  readonly migrationStatementTimeout: Duration | undefined;
  readonly migrationJob: boolean;
  readonly migrationConverge: ConvergeMode;
  readonly migrationAllowServerFiles: boolean;
  readonly apiReplicas: number;
  readonly apiPort: number;
  readonly apiCpuRequest: string;
  readonly apiMemoryRequest: string;
  readonly apiCpuLimit: string;
  readonly apiMemoryLimit: string;
  readonly apiProgressDeadline: Duration;
  readonly apiRolloutTimeout: Duration;
  readonly postgresImage: string;
  readonly postgresUser: string;
  readonly postgresDatabase: string;
  readonly postgresStorage: string;
  readonly postgresStorageClass: string | undefined;
  readonly postgresTimeout: Duration;
  readonly backend: BackendKind;
  readonly stateFile: string;
  readonly s3Bucket: string | undefined;
  readonly s3Key: string;
  readonly s3Region: string | undefined;
  readonly kubeconfig: string;
  readonly kubeContext: string | undefined;
}

type Parsed<T> = { value: T } | { broken: string };
type Parser<T> = (text: string) => Parsed<T>;

interface Setting<T> {
  readonly env: string;
  /** A value, or one computed from the settings declared before this one. */
  readonly default: T | ((config: StackConfig) => T);
  /** How docs/configuration.md shows a computed default. */
  readonly shownDefault?: string;
  readonly parse: Parser<T>;
  /** Its line in docs/configuration.md's table (settingsTable()). */
  readonly doc: string;
}

function text(rule: Check<string>): Parser<string> {
  return (raw) => {
    const broken = rule(raw);
    return broken ? { broken } : { value: raw };
  };
}

function optional(rule: Check<string>): Parser<string | undefined> {
  return text(rule);
}

function integer(rule: Check<number>): Parser<number> {
  return (raw) => {
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    const broken = rule(n);
    return broken ? { broken } : { value: n };
  };
}

/** A duration, parsed once, here, by the kernel's Duration: a number with ms, s or m, from 1ms to 24h. */
function duration(raw: string): Parsed<Duration> {
  try {
    return { value: Duration.parse(raw) };
  } catch (error) {
    if (!(error instanceof InvalidDurationError)) throw error;
    return { broken: 'must be a duration such as 500ms, 3s or 5m (between 1ms and 24h)' };
  }
}

function oneOf<T extends string>(values: readonly T[]): Parser<T> {
  return (raw) => ((values as readonly string[]).includes(raw) ? { value: raw as T } : { broken: `must be one of ${values.join(', ')}` });
}

function flag(raw: string): Parsed<boolean> {
  return raw === 'true' || raw === 'false' ? { value: raw === 'true' } : { broken: 'must be true or false' };
}

/** A setting that is a construct's prop: the prop's default, parsed and checked by the prop's rule. */
function prop<T>(spec: PropSpec<NonNullable<T>>, parser: (rule: Check<NonNullable<T>>) => Parser<T>): Pick<Setting<T>, 'default' | 'parse'> {
  return { default: spec.default as T, parse: parser(spec.rule) };
}

/**
 * A duration setting that is a construct's prop: the prop's default, the text parsed here.
 * The prop's rule is the construct's to apply (see the top of this file), not this setting's.
 */
function durationProp<T extends Duration | undefined>(spec: PropSpec<Duration>): Pick<Setting<T>, 'default' | 'parse'> {
  return { default: spec.default as T, parse: duration as Parser<T> };
}

const nonEmpty: Check<string> = (v) => (v.trim() === v && v.length > 0 ? undefined : 'must be a non-empty value without surrounding spaces');
const migration = DATABASE_MIGRATION_PROPS;
const api = API_SERVICE_PROPS;
const postgres = MANAGED_POSTGRES_PROPS;

/**
 * Every setting, in declaration order (a computed default sees the settings above it). Where a
 * setting is a construct's prop, its default and rule are the construct's (PROPS tables).
 */
export const SETTINGS: { readonly [K in keyof StackConfig]: Setting<StackConfig[K]> } = {
  stackName: { env: 'GPU_DEV_STACK_NAME', default: 'gpu-dev', parse: text(dns1123Label), doc: 'CDKTF stack name: the output folder `cdktf.out/stacks/<name>`' },
  namespace: { env: 'GPU_DEV_NAMESPACE', ...prop(NAMESPACE, text), doc: 'Kubernetes namespace of everything the stack creates' },
  databaseMode: {
    env: 'GPU_DEV_DATABASE_MODE',
    default: 'external',
    parse: oneOf(DATABASE_MODES),
    doc: '`external`: use an existing PostgreSQL and its secret; `managed`: also deploy PostgreSQL (StatefulSet, secret with a generated password, Service)',
  },
  createNamespace: {
    env: 'GPU_DEV_CREATE_NAMESPACE',
    default: (c) => c.databaseMode === 'managed',
    shownDefault: '`true` if managed, else `false`',
    parse: flag,
    doc: 'create the namespace (in external mode it usually exists already)',
  },
  databaseHost: {
    env: 'GPU_DEV_DATABASE_HOST',
    ...prop(DATABASE_HOST, text),
    doc: 'PostgreSQL host (in managed mode: the name of the Service the stack creates)',
  },
  databasePort: { env: 'GPU_DEV_DATABASE_PORT', ...prop(DATABASE_PORT, integer), doc: 'PostgreSQL port' },
  databaseSecret: {
    env: 'GPU_DEV_DATABASE_SECRET',
    ...prop(DATABASE_SECRET, text),
    doc: 'Secret with `POSTGRES_USER`, `POSTGRES_PASSWORD`, `POSTGRES_DB` (created by the stack in managed mode)',
  },
  apiImage: {
    env: 'GPU_DEV_API_IMAGE',
    ...prop(api.image, text),
    doc: 'the product image, built by the Dockerfile: the API, and the migration runner the Job runs with `GPU_DEV_RUNNER_SOURCE=image` (pin a digest in production)',
  },
  runnerSource: {
    env: 'GPU_DEV_RUNNER_SOURCE',
    default: DEFAULT_RUNNER_SOURCE,
    parse: oneOf(RUNNER_SOURCES),
    doc: "where the migration Job's runner comes from: `image`, the product image (the Job checks it is the build this checkout synthesizes, exit 8 if not); `configmap`, a ConfigMap on a stock Node.js image, for clusters that cannot pull the product image where the Job runs (about 1 MB more in every plan and in the state)",
  },
  runnerImage: {
    env: 'GPU_DEV_RUNNER_IMAGE',
    default: (c) => (c.runnerSource === 'image' ? c.apiImage : NODE_IMAGE),
    shownDefault: `\`GPU_DEV_API_IMAGE\` with \`image\`, \`${NODE_IMAGE}\` with \`configmap\``,
    parse: text(migration.image.rule),
    doc: "the image the migration Job runs (part of its name's hash): with `image`, one the Dockerfile built from this checkout; with `configmap`, any Node.js 20+ image with uid 1000",
  },
  migrationCpuRequest: {
    env: 'GPU_DEV_MIGRATION_CPU_REQUEST',
    default: MIGRATION_RESOURCES.cpuRequest,
    parse: text(cpuQuantity),
    doc: 'migration Job CPU request',
  },
  migrationMemoryRequest: {
    env: 'GPU_DEV_MIGRATION_MEMORY_REQUEST',
    default: MIGRATION_RESOURCES.memoryRequest,
    parse: text(memoryQuantity),
    doc: 'migration Job memory request',
  },
  migrationCpuLimit: { env: 'GPU_DEV_MIGRATION_CPU_LIMIT', default: MIGRATION_RESOURCES.cpuLimit, parse: text(cpuQuantity), doc: 'migration Job CPU limit' },
  migrationMemoryLimit: {
    env: 'GPU_DEV_MIGRATION_MEMORY_LIMIT',
    default: MIGRATION_RESOURCES.memoryLimit,
    parse: text(memoryQuantity),
    doc: 'migration Job memory limit',
  },
  migrationBackoffLimit: {
    env: 'GPU_DEV_MIGRATION_BACKOFF_LIMIT',
    ...prop(migration.backoffLimit, integer),
    doc: 'retries of a failed migration pod (each attempt re-runs the whole bundle in one transaction)',
  },
  migrationActiveDeadline: {
    env: 'GPU_DEV_MIGRATION_ACTIVE_DEADLINE',
    ...durationProp(migration.activeDeadline),
    doc: "the Job's `active_deadline_seconds`: all attempts together",
  },
  migrationTimeout: {
    env: 'GPU_DEV_MIGRATION_TIMEOUT',
    ...durationProp(migration.timeout),
    doc: 'how long `apply` waits for the Job (create/update timeouts); longer than the deadline',
  },
  migrationTtl: {
    env: 'GPU_DEV_MIGRATION_TTL',
    ...durationProp(migration.ttl),
    doc: '`ttl_seconds_after_finished`; none by default, see "Why the Job has no TTL"',
  },
  migrationLockTimeout: {
    env: 'GPU_DEV_MIGRATION_LOCK_TIMEOUT',
    default: undefined,
    parse: duration,
    doc: "the runner's `MIGRATION_LOCK_TIMEOUT`; none: the runner's own default (`--lock-timeout` above)",
  },
  migrationStatementTimeout: {
    env: 'GPU_DEV_MIGRATION_STATEMENT_TIMEOUT',
    default: undefined,
    parse: duration,
    doc: "the runner's `MIGRATION_STATEMENT_TIMEOUT`; none: the runner's own default (`--statement-timeout` above)",
  },
  migrationConverge: {
    env: 'GPU_DEV_MIGRATION_CONVERGE',
    default: DEFAULT_CONVERGE_MODE,
    parse: oneOf(CONVERGE_MODES),
    doc: "the runner's `MIGRATION_CONVERGE`: `apply` brings an existing table to what its edited CREATE TABLE IF NOT EXISTS declares, in place (what is safe; the rest fails as drift); `refuse`: only hand-written ALTERs, an edited CREATE TABLE fails as drift (exit 11)",
  },
  migrationAllowServerFiles: {
    env: 'GPU_DEV_MIGRATION_ALLOW_SERVER_FILES',
    default: false,
    parse: flag,
    doc: "the runner's `MIGRATION_ALLOW_SERVER_FILES`: let `COPY` to or from a server file or `PROGRAM`, and `pg_read_file` and its kin, through synth and the runner; refused by default, since migrations are reviewed as SQL, not as the server's files or shell",
  },
  migrationJob: {
    env: 'GPU_DEV_MIGRATION_JOB',
    default: true,
    parse: flag,
    doc: 'run the migration Job; `false`: the ConfigMaps only, for a database migrated by other means (the API refuses to start until the schema is there)',
  },
  apiReplicas: { env: 'GPU_DEV_API_REPLICAS', ...prop(api.replicas, integer), doc: 'API replicas' },
  apiPort: { env: 'GPU_DEV_API_PORT', ...prop(api.port, integer), doc: 'API container and Service port (unprivileged: the API runs as non-root)' },
  apiCpuRequest: { env: 'GPU_DEV_API_CPU_REQUEST', default: API_RESOURCES.cpuRequest, parse: text(cpuQuantity), doc: 'API CPU request' },
  apiMemoryRequest: { env: 'GPU_DEV_API_MEMORY_REQUEST', default: API_RESOURCES.memoryRequest, parse: text(memoryQuantity), doc: 'API memory request' },
  apiCpuLimit: { env: 'GPU_DEV_API_CPU_LIMIT', default: API_RESOURCES.cpuLimit, parse: text(cpuQuantity), doc: 'API CPU limit' },
  apiMemoryLimit: { env: 'GPU_DEV_API_MEMORY_LIMIT', default: API_RESOURCES.memoryLimit, parse: text(memoryQuantity), doc: 'API memory limit' },
  apiProgressDeadline: {
    env: 'GPU_DEV_API_PROGRESS_DEADLINE',
    ...durationProp(api.progressDeadline),
    doc: "the Deployment's `progress_deadline_seconds`: a rollout without progress this long fails, with its reason",
  },
  apiRolloutTimeout: {
    env: 'GPU_DEV_API_ROLLOUT_TIMEOUT',
    ...durationProp(api.rolloutTimeout),
    doc: 'how long `apply` waits for the API rollout (create/update timeouts); longer than the progress deadline',
  },
  postgresImage: {
    env: 'GPU_DEV_POSTGRES_IMAGE',
    ...prop(postgres.image, text),
    doc: "managed mode: PostgreSQL 18 image with the PGMQ extension (the PGMQ project's image)",
  },
  postgresUser: { env: 'GPU_DEV_POSTGRES_USER', ...prop(postgres.user, text), doc: 'managed mode: database user written to the secret' },
  postgresDatabase: { env: 'GPU_DEV_POSTGRES_DB', ...prop(postgres.database, text), doc: 'managed mode: database name written to the secret' },
  postgresStorage: { env: 'GPU_DEV_POSTGRES_STORAGE', ...prop(postgres.storage, text), doc: 'managed mode: size of the data volume' },
  postgresStorageClass: {
    env: 'GPU_DEV_POSTGRES_STORAGE_CLASS',
    ...prop(postgres.storageClassName, optional),
    doc: "managed mode: StorageClass of the data volume (default: the cluster's default)",
  },
  postgresTimeout: {
    env: 'GPU_DEV_POSTGRES_TIMEOUT',
    ...durationProp(postgres.timeout),
    doc: 'managed mode: how long `apply` waits for PostgreSQL to be Ready (an unbound volume waits the whole time)',
  },
  backend: { env: 'GPU_DEV_BACKEND', default: 'local', parse: oneOf(BACKENDS), doc: 'where Terraform keeps state: `local` file or `s3`' },
  stateFile: {
    env: 'GPU_DEV_STATE_FILE',
    default: (c) => `terraform.${c.stackName}.tfstate`,
    shownDefault: '`terraform.<stackName>.tfstate`',
    parse: text(relativePath),
    doc: 'local backend: state file, relative to the project folder (the one holding `cdktf.out`)',
  },
  s3Bucket: { env: 'GPU_DEV_S3_BUCKET', default: undefined, parse: optional(nonEmpty), doc: 's3 backend: bucket (required with `s3`)' },
  s3Key: {
    env: 'GPU_DEV_S3_KEY',
    default: (c) => `${c.stackName}/terraform.tfstate`,
    shownDefault: '`<stackName>/terraform.tfstate`',
    parse: text(nonEmpty),
    doc: 's3 backend: object key',
  },
  s3Region: { env: 'GPU_DEV_S3_REGION', default: undefined, parse: optional(nonEmpty), doc: 's3 backend: region (required with `s3`)' },
  kubeconfig: {
    env: 'GPU_DEV_KUBECONFIG',
    default: '~/.kube/config',
    parse: text(nonEmpty),
    doc: 'kubeconfig the Kubernetes provider reads (`~` is expanded by the provider, so no home folder lands in the output)',
  },
  kubeContext: { env: 'GPU_DEV_KUBE_CONTEXT', default: undefined, parse: optional(nonEmpty), doc: 'kubeconfig context (default: its current context)' },
};

/** The key under which cdktf context carries settings: `{"gpuDev": {"namespace": "…"}}`. */
const CONTEXT_KEY = 'gpuDev';

export interface ConfigSources {
  /** Usually `process.env`; only `GPU_DEV_…` variables are read. An empty value counts as unset. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** cdktf context (cdktf.json and `CDKTF_CONTEXT_JSON`); only its `gpuDev` object is read. */
  readonly context?: Readonly<Record<string, unknown>>;
}

/** Reads, validates and completes the configuration. Throws InvalidValueError naming the setting. */
export function loadStackConfig(sources: ConfigSources = {}): StackConfig {
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
  const loaded = checkCombinations(config as unknown as StackConfig, (key) => subjects[key]);
  SUBJECTS.set(loaded, subjects as Record<keyof StackConfig, string>);
  return loaded;
}

/** Where each setting of a loaded config came from, as its messages say it. */
const SUBJECTS = new WeakMap<StackConfig, Readonly<Record<keyof StackConfig, string>>>();

/**
 * What a message calls a setting of `config`, for a construct prop it feeds (renameProps): where
 * the value came from (`GPU_DEV_MIGRATION_TIMEOUT (setting migrationTimeout, default)`, `cdktf
 * context gpuDev.migrationTimeout (setting migrationTimeout)`), and the setting's name.
 */
export function settingName(config: StackConfig, key: keyof StackConfig): PropName {
  return { subject: SUBJECTS.get(config)?.[key] ?? `${SETTINGS[key].env} (setting ${key})`, name: key };
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

/**
 * Rules between settings, checked once every setting has its value. Not here: the migration's
 * wait outlasting its deadline, which DatabaseMigration checks (see the top of this file).
 */
function checkCombinations(config: StackConfig, subject: (key: keyof StackConfig) => string): StackConfig {
  for (const prefix of ['migration', 'api'] as const) {
    checkResources(containerResources(config, prefix), (field) => subject(`${prefix}${field[0].toUpperCase()}${field.slice(1)}` as keyof StackConfig));
  }
  if (config.databaseMode === 'managed') {
    const serviceName = postgres.serviceName.rule;
    check(subject('databaseHost'), config.databaseHost, (v) => serviceName(v) && `names the PostgreSQL Service in managed mode, so it ${serviceName(v)}`);
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
export const DEFAULTS: StackConfig = loadStackConfig();

/** docs/configuration.md's table, from the settings themselves (`npm run docs` writes it there). */
export function settingsTable(): string {
  const shown = (setting: Setting<unknown>) =>
    setting.shownDefault ?? (setting.default === undefined ? 'none' : typeof setting.default === 'function' ? 'computed' : `\`${String(setting.default)}\``);
  return [
    '| environment | context key | default | meaning |',
    '| --- | --- | --- | --- |',
    ...(Object.entries(SETTINGS) as [string, Setting<unknown>][]).map(
      ([key, setting]) => `| \`${setting.env}\` | \`${key}\` | ${shown(setting)} | ${setting.doc} |`,
    ),
  ].join('\n');
}
