import { ConfigMapV1 } from '@cdktf/provider-kubernetes/lib/config-map-v1';
import { JobV1 } from '@cdktf/provider-kubernetes/lib/job-v1';
import type { ITerraformDependable } from 'cdktf';
import { Construct } from 'constructs';
import { DATABASE_FOLDERS } from '../../build/repository';
import { displayName, readBundle, sha256Hex, type Bundle, type BundleFile, type Folder } from '../../kernel/bundle';
import { lineAndColumn } from '../../kernel/sql-split';
import { DEFAULT_CONVERGE_MODE, type ConvergeMode } from '../../kernel/converge-mode';
import { Duration } from '../../kernel/duration';
import { PERMANENT_EXIT_CODES } from '../../kernel/exit-codes';
import {
  check,
  dns1123Label,
  imageReference,
  integerBetween,
  InvalidValueError,
  outlasts,
  propNames,
  propReader,
  resourcesProp,
  toKubernetesResources,
  wholeSeconds,
  type ContainerResources,
  type PropSpecs,
  unrepresentable,
} from '../validation';
import {
  BUNDLE_HASH_ANNOTATION,
  containerSecurityContext,
  credentialsEnv,
  DATABASE_HOST,
  DATABASE_PORT,
  DATABASE_SECRET,
  NAMESPACE,
  namespaceEnv,
  podSecurityContext,
  PRODUCT_IMAGE,
} from './pod-spec';

/** Kubernetes refuses a ConfigMap whose data (keys + values) passes 1 MiB. */
const CONFIGMAP_MAX_BYTES = 1024 * 1024;
/** What one ConfigMap may carry by default: under the limit, with room for metadata. */
const DEFAULT_CONFIGMAP_LIMIT_BYTES = 1_000_000;
const MIGRATION_LABELS = { app: 'database-migration' } as const;
export const RUNNER_FILE = 'gpu-dev-db.js';
/**
 * Where the Job's runner comes from. `image`: the product image carries it at RUNNER_IN_IMAGE
 * and the Job checks its digest; `configmap`: a ConfigMap carries it to a stock Node image
 * (about 1 MB more in every plan and in the state: bench/results.md).
 */
export const RUNNER_SOURCES = ['image', 'configmap'] as const;
export type RunnerSource = (typeof RUNNER_SOURCES)[number];
export const DEFAULT_RUNNER_SOURCE: RunnerSource = 'image';
/** The runner in the product image: the Dockerfile's WORKDIR and `npm run build`'s output. */
export const RUNNER_IN_IMAGE = `/app/dist/${RUNNER_FILE}`;
/** The image the runner runs on when a ConfigMap carries it: any Node.js 20+ image with uid 1000. */
export const NODE_IMAGE = 'node:20-bookworm-slim';
/** Where the pod sees the runner and the SQL. */
const MOUNT_ROOT = '/opt/gpu-dev-db';
/** The stock Node images' unprivileged user. */
const NODE_UID = 1000;
/** Where the kubelet reads a container's termination message (its default path). */
const TERMINATION_LOG = '/dev/termination-log';
/** Mounted files: readable, never writable (spelled as the provider reads it back). */
const READ_ONLY = '0444';

export interface DatabaseMigrationProps {
  /** Namespace of the ConfigMaps and the Job. @default "gpu-controlplane" */
  readonly namespace?: string;
  /** Folder of the schema SQL files. @default this repository's database/schema */
  readonly schemaDir?: string;
  /** Folder of the fixture SQL files. @default this repository's database/fixtures */
  readonly fixturesDir?: string;
  /** The bundled runner, exactly the bytes the Job runs (and hashes): src/build/runner-bundle.ts builds it. */
  readonly runnerBytes: Buffer;
  /** Where the Job's runner comes from (RUNNER_SOURCES). @default "image" */
  readonly runnerSource?: RunnerSource;
  /**
   * Image the Job runs: with `image`, one built by this repository's Dockerfile from the checkout
   * that synthesizes (its runner must be runnerBytes); with `configmap`, any Node.js 20+ image with
   * uid 1000. @default "gpu-dev-api:0.1.0" with `image`, "node:20-bookworm-slim" with `configmap`
   */
  readonly image?: string;
  /** Secret with POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB. @default "postgres-credentials" */
  readonly secretName?: string;
  /** @default "postgres-primary" */
  readonly databaseHost?: string;
  /** @default 5432 */
  readonly databasePort?: number;
  /** @default 100m / 96Mi requested, 500m / 256Mi limit (bench/results.md: the runner peaks near 70 MiB on the product bundle, 110 MiB on 5,000 files) */
  readonly resources?: ContainerResources;
  /** Failed pods retried before the Job fails (exit codes that cannot change are not retried). @default 3 */
  readonly backoffLimit?: number;
  /** `active_deadline_seconds`: all attempts together; whole seconds. @default 10m */
  readonly activeDeadline?: Duration;
  /** How long Terraform waits for the Job (create and update timeouts); whole seconds, longer than activeDeadline. @default 15m */
  readonly timeout?: Duration;
  /**
   * `ttl_seconds_after_finished`; whole seconds. @default none: the Kubernetes provider re-creates
   * a Job the TTL deleted, so every later apply would run it again (see docs/decisions.md "Why the Job has no TTL").
   */
  readonly ttl?: Duration;
  /** The runner's MIGRATION_LOCK_TIMEOUT, passed on as written ("500ms"). @default unset: the runner's own (`gpu-dev-db --help`) */
  readonly lockTimeout?: Duration;
  /** The runner's MIGRATION_STATEMENT_TIMEOUT, passed on as written ("2m"). @default unset: the runner's own (`gpu-dev-db --help`) */
  readonly statementTimeout?: Duration;
  /**
   * The runner's MIGRATION_CONVERGE: `apply` brings an existing table to what its CREATE TABLE
   * IF NOT EXISTS declares, `refuse` leaves that to a hand-written ALTER (drift, exit 11). Always
   * set on the Job, so `kubectl describe job` shows it. @default "apply"
   */
  readonly converge?: ConvergeMode;
  /**
   * The runner's MIGRATION_ALLOW_SERVER_FILES: let COPY to or from a server file or PROGRAM, and
   * pg_read_file and its kin, run. @default false: refused, at synth and by the runner
   */
  readonly allowServerFiles?: boolean;
  /** Job name prefix; the name is `<prefix>-<12 hex of the bundle hash>`. @default "db-migration" */
  readonly jobNamePrefix?: string;
  /**
   * Whether to run the Job. false: the ConfigMaps only, for a database migrated by other means
   * (the API then refuses to start until the schema is there). @default true
   */
  readonly runJob?: boolean;
  /** Bytes of SQL (file names + texts) per ConfigMap before a folder splits over several. @default 1,000,000 */
  readonly configMapLimitBytes?: number;
  /** What must exist before the Job runs, e.g. a managed database. @default none */
  readonly dependsOn?: ITerraformDependable[];
}

/**
 * Each prop's default and rule, written once: the construct applies them, config.ts reads them for
 * its settings. The durations' rules are Kubernetes' (whole seconds), not the Duration type's, and
 * only this construct applies them (config.ts parses the settings' text and leaves the rest to
 * it). lockTimeout and statementTimeout have no rule beyond being a Duration: the runner takes any,
 * milliseconds too.
 */
export const DATABASE_MIGRATION_PROPS = {
  namespace: NAMESPACE,
  image: { rule: imageReference },
  secretName: DATABASE_SECRET,
  databaseHost: DATABASE_HOST,
  databasePort: DATABASE_PORT,
  backoffLimit: { default: 3, rule: integerBetween(0, 10) },
  activeDeadline: { default: Duration.parse('10m'), rule: wholeSeconds },
  timeout: { default: Duration.parse('15m'), rule: wholeSeconds },
  ttl: { rule: wholeSeconds },
  configMapLimitBytes: { default: DEFAULT_CONFIGMAP_LIMIT_BYTES, rule: integerBetween(1, CONFIGMAP_MAX_BYTES) },
} as const satisfies PropSpecs<DatabaseMigrationProps>;

/** The `resources` prop's default. */
export const MIGRATION_RESOURCES: ContainerResources = { cpuRequest: '100m', memoryRequest: '96Mi', cpuLimit: '500m', memoryLimit: '256Mi' };

/** One ConfigMap's worth of a folder: SQL as text (`data`), the runner as bytes (`binaryData`, base64). */
export interface ConfigMapShard {
  readonly name: string;
  readonly data?: Readonly<Record<string, string>>;
  readonly binaryData?: Readonly<Record<string, string>>;
  readonly bytes: number;
}

/**
 * The SQL bundle and the runner as ConfigMaps, and the Job that applies them, named after the
 * bundle hash: any change to a schema file, a fixture file or the runner renames the Job, so
 * Terraform replaces it and the new one runs. The hash comes from the kernel's bundle module
 * (readBundle), the one the runner recomputes it with, so the two can never disagree.
 */
export class DatabaseMigration extends Construct {
  readonly bundle: Bundle;
  readonly jobName: string;
  readonly image: string;
  /** The Job, unless runJob is false. */
  readonly job?: JobV1;
  readonly configMaps: readonly ConfigMapV1[];
  /** What each ConfigMap carries, in volume order: schema, fixtures, and with `configmap` the runner. */
  readonly shards: readonly ConfigMapShard[];

  constructor(scope: Construct, id: string, props: DatabaseMigrationProps) {
    super(scope, id);
    const names = propNames<DatabaseMigrationProps>(this, 'DatabaseMigration');
    const subject = names.subject;
    const prop = propReader(subject, props, DATABASE_MIGRATION_PROPS);
    const namespace = prop('namespace');
    const runnerSource = props.runnerSource ?? DEFAULT_RUNNER_SOURCE;
    const image = prop('image') ?? (runnerSource === 'image' ? PRODUCT_IMAGE : NODE_IMAGE);
    const secretName = prop('secretName');
    const host = prop('databaseHost');
    const port = prop('databasePort');
    const resources = resourcesProp(subject('resources'), props.resources, MIGRATION_RESOURCES);
    const backoffLimit = prop('backoffLimit');
    const deadline = prop('activeDeadline');
    // The one place the wait is held to outlast the deadline, for direct users and for the stack's
    // settings alike (config.ts relies on it; the stack has the message name the settings).
    const timeout = check(subject('timeout'), prop('timeout'), outlasts(deadline, names.name('activeDeadline')));
    const ttl = prop('ttl');
    const runnerTimeouts = { MIGRATION_LOCK_TIMEOUT: props.lockTimeout, MIGRATION_STATEMENT_TIMEOUT: props.statementTimeout };
    const limit = prop('configMapLimitBytes');
    const runnerBytes = props.runnerBytes;

    // Bad file names, duplicate numbers, empty or non-UTF-8 files fail here, naming the file.
    this.bundle = readBundle({
      schemaDir: props.schemaDir ?? DATABASE_FOLDERS.schemaDir,
      fixturesDir: props.fixturesDir ?? DATABASE_FOLDERS.fixturesDir,
      runnerDigest: sha256Hex(runnerBytes),
      runnerImage: image,
    });
    const jobNamePrefix = props.jobNamePrefix ?? 'db-migration';
    // The bundle's own objects (the Job, its ConfigMaps) carry this in their names and addresses.
    const suffix = this.bundle.hash.slice(0, 12);
    this.jobName = `${jobNamePrefix}-${suffix}`;
    check(
      subject('jobNamePrefix'),
      jobNamePrefix,
      () => dns1123Label(this.jobName) && `makes the Job name "${this.jobName}", which ${dns1123Label(this.jobName)}`,
    );
    this.image = image;

    // Every ConfigMap of the migration is the bundle's own, named and addressed with its hash, like
    // the Job: a new bundle creates new ones, so the new Job depends on nothing that is changed in
    // place and Terraform need not delete the old Job first (it deletes a dependent before it
    // updates what it depends on); the old Job and its ConfigMaps go meanwhile. A pod of the old
    // Job never sees the new files.
    const shards: Record<string, ConfigMapShard[]> = {
      schema: shardFolder('schema', this.bundle.files, limit, suffix),
      fixtures: shardFolder('fixtures', this.bundle.files, limit, suffix),
      ...(runnerSource === 'configmap' ? { runner: [runnerShard(runnerBytes, suffix)] } : {}),
    };
    this.shards = Object.values(shards).flat();
    this.configMaps = this.shards.map(
      (s) => new ConfigMapV1(this, s.name, { metadata: { name: s.name, namespace, labels: MIGRATION_LABELS }, data: s.data, binaryData: s.binaryData }),
    );

    const mountPath = (volume: string) => `${MOUNT_ROOT}/${volume}`;
    if (props.runJob === false) return;
    // One address per bundle: a Job a killed deploy left out of the state is adopted at its own
    // address (constructs/adoption.ts), never at one the state still gives the previous Job.
    this.job = new JobV1(this, `job-${suffix}`, {
      metadata: { name: this.jobName, namespace, labels: MIGRATION_LABELS, annotations: { [BUNDLE_HASH_ANNOTATION]: this.bundle.hash } },
      spec: {
        backoffLimit,
        activeDeadlineSeconds: deadline.toSeconds(),
        ttlSecondsAfterFinished: ttl === undefined ? undefined : String(ttl.toSeconds()),
        podFailurePolicy: {
          rule: [
            { action: 'FailJob', onExitCodes: { containerName: 'migrate', operator: 'In', values: [...PERMANENT_EXIT_CODES] } },
            // A pod evicted by a node drain did not fail: it does not use up a retry.
            { action: 'Ignore', onPodCondition: [{ type: 'DisruptionTarget', status: 'True' }] },
          ],
        },
        template: {
          metadata: { labels: MIGRATION_LABELS, annotations: { [BUNDLE_HASH_ANNOTATION]: this.bundle.hash } },
          spec: {
            // Never: each failed attempt is a new pod whose log stays for `kubectl logs`.
            restartPolicy: 'Never',
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            securityContext: podSecurityContext(NODE_UID),
            container: [
              {
                name: 'migrate',
                image,
                command: ['node'],
                args: [
                  runnerSource === 'image' ? RUNNER_IN_IMAGE : `${mountPath('runner')}/${RUNNER_FILE}`,
                  'apply',
                  '--schema-dir',
                  mountPath('schema'),
                  '--fixtures-dir',
                  mountPath('fixtures'),
                  '--expected-hash',
                  this.bundle.hash,
                ],
                env: [
                  ...credentialsEnv(secretName),
                  { name: 'POSTGRES_HOST', value: host },
                  { name: 'POSTGRES_PORT', value: String(port) },
                  { name: 'MIGRATION_JOB_NAME', value: this.jobName },
                  // The build the hash names: a runner of another build refuses to run (exit 8), naming both.
                  { name: 'MIGRATION_RUNNER_DIGEST', value: this.bundle.runnerDigest },
                  { name: 'MIGRATION_RUNNER_IMAGE', value: image },
                  { name: 'MIGRATION_CONVERGE', value: props.converge ?? DEFAULT_CONVERGE_MODE },
                  ...(props.allowServerFiles ? [{ name: 'MIGRATION_ALLOW_SERVER_FILES', value: 'true' }] : []),
                  // The runner's summary (file, line, SQLSTATE, what to do) where kubectl describe shows it.
                  { name: 'MIGRATION_TERMINATION_LOG', value: TERMINATION_LOG },
                  namespaceEnv(),
                  // As written: the runner parses the text itself, with the same Duration.
                  ...Object.entries(runnerTimeouts)
                    .filter(([, value]) => value !== undefined)
                    .map(([name, value]) => ({ name, value: (value as Duration).toString() })),
                ],
                volumeMount: Object.keys(shards).map((volume) => ({ name: volume, mountPath: mountPath(volume), readOnly: true })),
                resources: toKubernetesResources(resources),
                securityContext: containerSecurityContext(NODE_UID),
                terminationMessagePath: TERMINATION_LOG,
                // A runner killed before it wrote one (OOM, a crash) still leaves its log's tail there.
                terminationMessagePolicy: 'FallbackToLogsOnError',
              },
            ],
            volume: Object.entries(shards).map(([volume, list]) =>
              // One ConfigMap mounts as itself; a folder split over several is projected back into one
              // folder (one source per ConfigMap: the shape the provider reads back, so plans stay clean).
              list.length === 1
                ? { name: volume, configMap: { name: list[0].name, defaultMode: READ_ONLY } }
                : { name: volume, projected: [{ defaultMode: READ_ONLY, sources: list.map((s) => ({ configMap: [{ name: s.name }] })) }] },
            ),
          },
        },
      },
      waitForCompletion: true,
      timeouts: { create: `${timeout.toSeconds()}s`, update: `${timeout.toSeconds()}s` },
      dependsOn: [...this.configMaps, ...(props.dependsOn ?? [])],
    });
  }
}

/**
 * A folder's files over as few ConfigMaps as fit: `database-schema-<hash>`, `database-schema-<hash>-2`,
 * … in bundle order. A file that alone passes the limit cannot be carried and is refused.
 */
function shardFolder(folder: Folder, files: readonly BundleFile[], limit: number, suffix: string): ConfigMapShard[] {
  const base = `database-${folder}-${suffix}`;
  const groups: { key: string; value: string; label: string }[][] = [[]];
  let used = 0;
  for (const file of files.filter((f) => f.folder === folder)) {
    const size = entrySize(file.name, file.sql);
    if (used + size > limit && groups[groups.length - 1].length > 0) {
      groups.push([]);
      used = 0;
    }
    groups[groups.length - 1].push({ key: file.name, value: file.sql, label: `file ${displayName(file)}` });
    used += size;
  }
  return groups.map((entries, i) => shard(i === 0 ? base : `${base}-${i + 1}`, entries, limit));
}

function shard(name: string, entries: readonly { key: string; value: string; label: string }[], limit: number): ConfigMapShard {
  for (const { key, value, label } of entries) {
    const broken = unrepresentable(value);
    if (broken) {
      const { line, column } = lineAndColumn(value, broken.index);
      throw new InvalidValueError(`${label} line ${line} column ${column}`, value.slice(broken.index, broken.index + 24), broken.rule);
    }
    checkFits(label, entrySize(key, value), limit);
  }
  return {
    name,
    data: Object.fromEntries(entries.map((e) => [e.key, e.value])),
    bytes: entries.reduce((sum, e) => sum + entrySize(e.key, e.value), 0),
  };
}

/**
 * The runner as binaryData (base64 in cdk.tf.json, the same bytes in the pod). As a string it
 * would be a Terraform template: its 750 KB of minified JavaScript, full of `$` and `%`, made
 * every `tofu plan` of the stack about 8 s slower (bench/results.md); base64 holds neither.
 * One file that cannot be split: held to the default limit whatever the SQL folders use.
 */
function runnerShard(bytes: Buffer, suffix: string): ConfigMapShard {
  const size = Buffer.byteLength(RUNNER_FILE) + bytes.length;
  checkFits(`runner ${RUNNER_FILE}`, size, DEFAULT_CONFIGMAP_LIMIT_BYTES);
  return { name: `database-migration-runner-${suffix}`, binaryData: { [RUNNER_FILE]: bytes.toString('base64') }, bytes: size };
}

function checkFits(label: string, size: number, limit: number): void {
  if (size > limit) {
    throw new InvalidValueError(
      label,
      `${size} bytes`,
      `is larger than one ConfigMap may carry (${limit} bytes of key and value; Kubernetes refuses more than ${CONFIGMAP_MAX_BYTES}); split it into several files`,
    );
  }
}

/** What Kubernetes counts against the limit: the key's bytes and the value's bytes (binaryData: decoded). */
function entrySize(key: string, value: string): number {
  return Buffer.byteLength(key) + Buffer.byteLength(value);
}
