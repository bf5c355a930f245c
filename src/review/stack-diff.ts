import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { RUNNER_FILE } from '../stack/constructs/database-migration';
import { BUNDLE_HASH_ANNOTATION } from '../stack/constructs/pod-spec';
import { literalValue } from '../stack/terraform-literals';

/**
 * What a deploy of one synthesized stack over another does to the cluster: the Kubernetes
 * objects it creates, changes, replaces or destroys, compared resource by resource from the
 * two cdk.tf.json files (strings as Terraform reads them, escapes undone), or read from
 * `tofu show -json` of a real plan; and what that means in words (the migration runs, the API
 * rolls out). The replacement rules are the Kubernetes provider's ForceNew attributes that
 * this stack sets; a real plan is the authority when there is one.
 */

/** The parts of cdk.tf.json this reads. */
export interface StackJson {
  readonly resource?: Readonly<Record<string, Readonly<Record<string, any>>>>;
  readonly output?: Readonly<Record<string, { readonly value?: unknown }>>;
}

type ChangeAction = 'create' | 'update' | 'replace' | 'delete';

interface AttributeChange {
  /** `spec.template.spec.container[api].image`, `data["006_x.sql"]`: arrays of named items are keyed by name. */
  readonly path: string;
  /** The value as Terraform reads it, long text summed up as its size and digest; absent: not set. */
  readonly before?: string;
  readonly after?: string;
  /** The provider cannot change this in place: the object is destroyed and created again. */
  readonly forcesReplacement: boolean;
}

export interface ObjectChange {
  /** Terraform address, `kubernetes_job_v1.migration_job_EFF01D5B`. */
  readonly address: string;
  readonly type: string;
  /** Kubernetes kind (`Job`), or the resource type for what is no Kubernetes object. */
  readonly kind: string;
  /** `namespace/name` after the change (before it, for a destroyed object). */
  readonly name: string;
  /** `namespace/name` before, when it differs. */
  readonly previousName?: string;
  readonly action: ChangeAction;
  readonly attributes: readonly AttributeChange[];
}

/** cdk.tf.json, read and parsed; the error names the file. */
export function readStackJson(file: string): StackJson {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new Error(`cannot read the synthesized stack ${file}: ${(cause as Error).message}`, { cause });
  }
  try {
    return JSON.parse(text) as StackJson;
  } catch (cause) {
    throw new Error(`${file} is not JSON: ${(cause as Error).message}`, { cause });
  }
}

const KINDS: Readonly<Record<string, string>> = {
  kubernetes_namespace_v1: 'Namespace',
  kubernetes_config_map_v1: 'ConfigMap',
  kubernetes_secret_v1: 'Secret',
  kubernetes_stateful_set_v1: 'StatefulSet',
  kubernetes_service_v1: 'Service',
  kubernetes_job_v1: 'Job',
  kubernetes_deployment_v1: 'Deployment',
};
/** Roughly the order apply gets to them: listed in that order. */
const TYPE_ORDER = ['random_password', ...Object.keys(KINDS)];

/** Attributes the Kubernetes provider (2.x) marks ForceNew, for the resource types this stack uses. */
function forcesReplacement(type: string, path: string): boolean {
  if (type.startsWith('random_')) return true;
  if (/^metadata\.(name|namespace|generate_name)$/.test(path)) return true;
  if (type === 'kubernetes_job_v1') return path.startsWith('spec.');
  if (type === 'kubernetes_stateful_set_v1') return /^spec\.(selector|service_name|volume_claim_template|pod_management_policy)\b/.test(path);
  if (type === 'kubernetes_deployment_v1') return path.startsWith('spec.selector');
  return false;
}

/** What the top level of a resource holds that is not the object: cdktf's metadata, Terraform's ordering. */
const NOT_THE_OBJECT = new Set(['//', 'depends_on']);

/** Compares two synthesized stacks resource by resource. */
export function diffStacks(before: StackJson, after: StackJson): ObjectChange[] {
  const old = resources(before);
  const now = resources(after);
  const changes: ObjectChange[] = [];
  for (const address of new Set([...old.keys(), ...now.keys()])) {
    const type = address.slice(0, address.indexOf('.'));
    const then = old.get(address);
    const next = now.get(address);
    const attributes = attributeChanges(type, then, next);
    if (then !== undefined && next !== undefined && attributes.length === 0) continue;
    const action: ChangeAction =
      then === undefined ? 'create' : next === undefined ? 'delete' : attributes.some((a) => a.forcesReplacement) ? 'replace' : 'update';
    const name = objectName(next ?? then);
    const previousName = then !== undefined && next !== undefined && objectName(then) !== name ? objectName(then) : undefined;
    changes.push({ address, type, kind: KINDS[type] ?? type, name, ...(previousName ? { previousName } : {}), action, attributes });
  }
  return sortChanges(pairBundleObjects(changes, (address, side) => (side === 'before' ? old : now).get(address)));
}

/** Each leaf that differs between two bodies of a resource (either may be absent), by path. */
function attributeChanges(type: string, then: unknown, next: unknown): AttributeChange[] {
  const leavesBefore = then === undefined ? new Map<string, unknown>() : flatten(then);
  const leavesAfter = next === undefined ? new Map<string, unknown>() : flatten(next);
  const attributes: AttributeChange[] = [];
  for (const path of new Set([...leavesBefore.keys(), ...leavesAfter.keys()])) {
    const a = leavesBefore.get(path);
    const b = leavesAfter.get(path);
    if (a === b) continue;
    attributes.push({
      path,
      ...(a === undefined ? {} : { before: summarize(a) }),
      ...(b === undefined ? {} : { after: summarize(b) }),
      forcesReplacement: forcesReplacement(type, path),
    });
  }
  return attributes.sort((x, y) => x.path.localeCompare(y.path));
}

/** A bundle's own object names carry 12 hex of its hash (and, for a split folder, `-N` after it). */
const BUNDLE_SUFFIX = /-[0-9a-f]{12}(?=(?:-\d+)?$)/;

/**
 * The migration's Job and ConfigMaps have one name and address per bundle
 * (constructs/database-migration.ts), so a new bundle reads as each deleted and another created:
 * what it means is each replaced under a new name. The Job's change is its name; a ConfigMap's
 * is its name and the data that differs.
 */
function pairBundleObjects(changes: ObjectChange[], bodyOf: (address: string, side: 'before' | 'after') => unknown): ObjectChange[] {
  const key = (c: ObjectChange) => `${c.type} ${c.name.replace(BUNDLE_SUFFIX, '')}`;
  const paired: ObjectChange[] = [];
  const used = new Set<ObjectChange>();
  for (const deleted of changes.filter((c) => c.action === 'delete' && BUNDLE_SUFFIX.test(c.name))) {
    const created = changes.find((c) => c.action === 'create' && !used.has(c) && BUNDLE_SUFFIX.test(c.name) && key(c) === key(deleted));
    if (!created) continue;
    used.add(deleted).add(created);
    const renamed: AttributeChange = {
      path: 'metadata.name',
      before: deleted.name.split('/').pop() as string,
      after: created.name.split('/').pop() as string,
      forcesReplacement: true,
    };
    const contents =
      created.type === 'kubernetes_job_v1'
        ? []
        : attributeChanges(created.type, bodyOf(deleted.address, 'before'), bodyOf(created.address, 'after')).filter((a) => a.path !== 'metadata.name');
    paired.push({ ...created, previousName: deleted.name, action: 'replace', attributes: [renamed, ...contents] });
  }
  return [...changes.filter((c) => !used.has(c)), ...paired];
}

function sortChanges(changes: ObjectChange[]): ObjectChange[] {
  const rank = (type: string) => (TYPE_ORDER.indexOf(type) + TYPE_ORDER.length + 1) % (TYPE_ORDER.length + 1);
  return changes.sort((a, b) => rank(a.type) - rank(b.type) || a.address.localeCompare(b.address));
}

function resources(json: StackJson): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const [type, byName] of Object.entries(json.resource ?? {})) {
    for (const [name, body] of Object.entries(byName ?? {})) out.set(`${type}.${name}`, body as Record<string, unknown>);
  }
  return out;
}

/** A string as Terraform evaluates it: escapes undone; one holding a reference stays as written. */
function terraformValue(text: string): string {
  try {
    return literalValue(text);
  } catch {
    return text;
  }
}

function metadataOf(body: unknown): Record<string, unknown> | undefined {
  const metadata = (body as { metadata?: unknown } | undefined)?.metadata;
  const first = Array.isArray(metadata) ? metadata[0] : metadata;
  return first !== null && typeof first === 'object' ? (first as Record<string, unknown>) : undefined;
}

function objectName(body: unknown): string {
  const metadata = metadataOf(body);
  if (!metadata || typeof metadata.name !== 'string') return '';
  const name = terraformValue(metadata.name);
  return typeof metadata.namespace === 'string' ? `${terraformValue(metadata.namespace)}/${name}` : name;
}

const SIMPLE_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Every leaf of a resource by its path; arrays whose items all have a string `name` are keyed by it. */
function flatten(value: unknown, path = '', out = new Map<string, unknown>(), top = true): Map<string, unknown> {
  if (Array.isArray(value)) {
    if (value.length === 0) out.set(path, '[]');
    const named = value.every((item) => item !== null && typeof item === 'object' && typeof (item as { name?: unknown }).name === 'string');
    value.forEach((item, index) => {
      flatten(item, `${path}[${named ? terraformValue((item as { name: string }).name) : index}]`, out, false);
    });
  } else if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([key]) => !(top && NOT_THE_OBJECT.has(key)));
    if (entries.length === 0 && !top) out.set(path, '{}');
    for (const [rawKey, item] of entries) {
      const key = terraformValue(rawKey);
      flatten(item, SIMPLE_KEY.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`, out, false);
    }
  } else {
    out.set(path, typeof value === 'string' ? terraformValue(value) : value);
  }
  return out;
}

/** A value for a reader: short text as JSON, long or multi-line text as its size and digest. */
function summarize(value: unknown): string {
  if (typeof value !== 'string') return String(value);
  if (value.length <= 100 && !value.includes('\n')) return JSON.stringify(value);
  const bytes = Buffer.byteLength(value, 'utf8');
  return `(${bytes} bytes, sha256 ${createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 12)})`;
}

/**
 * The changes of a real plan: `tofu show -json PLANFILE` (or terraform's), its resource_changes
 * without no-ops and reads. Attribute paths are the state's (`metadata[0].name`); values
 * marked sensitive or unknown until apply are never shown.
 */
export function changesFromPlanJson(plan: unknown, source: string): { changes: ObjectChange[]; drifted: string[] } {
  const document = plan as { resource_changes?: unknown; resource_drift?: unknown } | null;
  if (document === null || typeof document !== 'object' || !Array.isArray(document.resource_changes)) {
    throw new Error(`${source} is no plan in JSON: it has no resource_changes array (make it with: tofu show -json PLANFILE > ${source})`);
  }
  const changes: ObjectChange[] = [];
  const bodies = new Map<string, { before?: unknown; after?: unknown }>();
  for (const entry of document.resource_changes as any[]) {
    bodies.set(String(entry?.address), { before: entry?.change?.before ?? undefined, after: entry?.change?.after ?? undefined });
    const actions: string[] = entry?.change?.actions ?? [];
    const action: ChangeAction | undefined =
      actions.includes('delete') && actions.includes('create')
        ? 'replace'
        : actions.length === 1 && ['create', 'update', 'delete'].includes(actions[0])
          ? (actions[0] as ChangeAction)
          : undefined;
    if (!action) continue;
    const type = String(entry.type);
    const replacePaths = new Set(((entry.change.replace_paths ?? []) as unknown[][]).map((p) => pathText(p)));
    const leavesBefore = entry.change.before ? flatten(entry.change.before) : new Map<string, unknown>();
    const leavesAfter = entry.change.after ? flatten(entry.change.after) : new Map<string, unknown>();
    const hidden = (path: string) =>
      type === 'kubernetes_secret_v1' ||
      type.startsWith('random_') ||
      isMarked(entry.change.before_sensitive, path) ||
      isMarked(entry.change.after_sensitive, path);
    const attributes: AttributeChange[] = [];
    if (action === 'update' || action === 'replace') {
      for (const path of new Set([...leavesBefore.keys(), ...leavesAfter.keys()])) {
        const a = leavesBefore.get(path);
        const b = leavesAfter.get(path);
        const unknown = isMarked(entry.change.after_unknown, path);
        if (a === b && !unknown) continue;
        attributes.push({
          path,
          ...(a === undefined ? {} : { before: hidden(path) ? '(sensitive)' : summarize(a) }),
          ...(unknown ? { after: '(known after apply)' } : b === undefined ? {} : { after: hidden(path) ? '(sensitive)' : summarize(b) }),
          forcesReplacement: [...replacePaths].some((p) => path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`)),
        });
      }
    }
    const body = entry.change.after ?? entry.change.before;
    const name = objectName(body);
    const previousName = entry.change.before && entry.change.after && objectName(entry.change.before) !== name ? objectName(entry.change.before) : undefined;
    changes.push({
      address: String(entry.address),
      type,
      kind: KINDS[type] ?? type,
      name,
      ...(previousName ? { previousName } : {}),
      action,
      attributes: attributes.sort((x, y) => x.path.localeCompare(y.path)),
    });
  }
  const drifted = Array.isArray(document.resource_drift) ? (document.resource_drift as any[]).map((d) => String(d.address)) : [];
  return { changes: sortChanges(pairBundleObjects(changes, (address, side) => bodies.get(address)?.[side])), drifted };
}

/** `["metadata", 0, "name"]` as flatten writes it: `metadata[0].name`. */
function pathText(segments: readonly unknown[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += SIMPLE_KEY.test(String(segment)) ? (out ? `.${segment}` : String(segment)) : `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** Whether a plan's *_sensitive / after_unknown tree marks `path` (or a parent of it) true. */
function isMarked(tree: unknown, path: string): boolean {
  if (tree === true) return true;
  if (tree === null || typeof tree !== 'object') return false;
  const marked = flatten(tree);
  return [...marked.entries()].some(([p, v]) => v === true && (path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`)));
}

export interface DeployEffect {
  /** The migration Job's name in each stack (absent: no Job). */
  readonly job: { readonly before?: string; readonly after?: string };
  /** The bundle hash in each stack. */
  readonly bundle: { readonly before?: string; readonly after?: string };
  /** True when the next apply runs the migration: its Job is created or replaced. */
  readonly migrationRuns: boolean;
  /** The API Deployment gets a new pod template: new pods replace the running ones. */
  readonly apiRollsOut: boolean;
  /** What it means, in sentences, most important first. */
  readonly sentences: readonly string[];
}

/** The Job name, bundle hash, runner digest and image, and the Job's literal environment a synthesized stack carries. */
export function migrationOf(json: StackJson): {
  jobName?: string;
  bundleHash?: string;
  runnerDigest?: string;
  runnerImage?: string;
  env: Record<string, string>;
} {
  const jobs = Object.values(json.resource?.kubernetes_job_v1 ?? {});
  const job = jobs.find((j) => (metadataOf(j)?.labels as Record<string, string> | undefined)?.app === 'database-migration') ?? jobs[0];
  const name = metadataOf(job)?.name;
  const hash = json.output?.bundle_hash?.value;
  const env = containerEnv(job);
  // The digest the Job checks (the runner in the image), or the runner's bytes in a ConfigMap:
  // base64 in binary_data, or (stacks synthesized before that) text in data.
  const runner = Object.values(json.resource?.kubernetes_config_map_v1 ?? {})
    .map((cm) => cm as { data?: Record<string, string>; binary_data?: Record<string, string> })
    .map((cm) =>
      typeof cm.binary_data?.[RUNNER_FILE] === 'string'
        ? Buffer.from(cm.binary_data[RUNNER_FILE], 'base64')
        : typeof cm.data?.[RUNNER_FILE] === 'string'
          ? Buffer.from(terraformValue(cm.data[RUNNER_FILE]), 'utf8')
          : undefined,
    )
    .find((bytes) => bytes !== undefined);
  return {
    ...(typeof name === 'string' ? { jobName: terraformValue(name) } : {}),
    ...(typeof hash === 'string' ? { bundleHash: hash } : {}),
    ...(env.MIGRATION_RUNNER_DIGEST
      ? { runnerDigest: env.MIGRATION_RUNNER_DIGEST }
      : runner !== undefined
        ? { runnerDigest: createHash('sha256').update(runner).digest('hex') }
        : {}),
    // Stacks synthesized before the image was part of the hash set no MIGRATION_RUNNER_IMAGE.
    ...(env.MIGRATION_RUNNER_IMAGE ? { runnerImage: env.MIGRATION_RUNNER_IMAGE } : {}),
    env,
  };
}

/** The literal environment (no secret references) of the API Deployment's first container. */
export function apiEnvOf(json: StackJson): Record<string, string> {
  return containerEnv(Object.values(json.resource?.kubernetes_deployment_v1 ?? {})[0]);
}

function containerEnv(workload: unknown): Record<string, string> {
  const spec = (workload as any)?.spec?.template?.spec;
  const container = Array.isArray(spec?.container) ? spec.container[0] : undefined;
  const env: Record<string, string> = {};
  for (const entry of (container?.env ?? []) as { name?: unknown; value?: unknown }[]) {
    if (typeof entry.name === 'string' && typeof entry.value === 'string') env[terraformValue(entry.name)] = terraformValue(entry.value);
  }
  return env;
}

/** The changes in words: whether the migration runs, whether and why the API rolls out, what else moves. */
export function describeDeployEffect(before: StackJson, after: StackJson, changes: readonly ObjectChange[]): DeployEffect {
  const then = migrationOf(before);
  const now = migrationOf(after);
  const sentences: string[] = [];
  const jobChange = changes.find((c) => c.type === 'kubernetes_job_v1');
  let migrationRuns = false;
  if (jobChange?.action === 'create') {
    migrationRuns = true;
    sentences.push(`The migration Job ${now.jobName} is created: the bundle runs on the next apply.`);
  } else if (jobChange?.action === 'replace') {
    migrationRuns = true;
    // What besides the SQL renamed it: the runner's build or the image it runs on (both in the hash).
    const why = [
      ...(then.runnerDigest && now.runnerDigest && then.runnerDigest !== now.runnerDigest
        ? [`the runner's build changed (${then.runnerDigest.slice(0, 12)} → ${now.runnerDigest.slice(0, 12)})`]
        : []),
      ...(then.runnerImage !== now.runnerImage
        ? [`the image it runs on changed (${JSON.stringify(then.runnerImage ?? 'none')} → ${JSON.stringify(now.runnerImage ?? 'none')})`]
        : []),
    ];
    sentences.push(
      then.jobName !== now.jobName
        ? `The migration Job is replaced (${then.jobName} → ${now.jobName}${why.length > 0 ? `; ${why.join(', ')}` : ''}): the bundle runs on the next apply.`
        : `The migration Job is replaced although its name stays ${now.jobName} (${listPaths(jobChange.attributes.filter((a) => a.forcesReplacement))} changed): the bundle runs again on the next apply.`,
    );
  } else if (jobChange?.action === 'delete') {
    sentences.push(`The migration Job ${then.jobName} is destroyed: no migration runs.`);
  } else if (now.jobName) {
    sentences.push(
      `The migration Job keeps its name ${now.jobName}${jobChange ? ` (changed in place: ${listPaths(jobChange.attributes)})` : ''}: no migration runs.`,
    );
  }

  let apiRollsOut = false;
  for (const deployment of changes.filter((c) => c.type === 'kubernetes_deployment_v1')) {
    const label = `The ${deployment.name.split('/').pop()} Deployment`;
    if (deployment.action === 'create' || deployment.action === 'delete' || deployment.action === 'replace') {
      apiRollsOut = deployment.action !== 'delete';
      sentences.push(
        `${label} is ${deployment.action === 'create' ? 'created' : deployment.action === 'delete' ? 'destroyed' : 'replaced (destroyed, then created: the API is down in between)'}.`,
      );
      continue;
    }
    const template = deployment.attributes.filter((a) => a.path.startsWith('spec.template.'));
    const replicas = deployment.attributes.find((a) => a.path === 'spec.replicas');
    const rest = deployment.attributes.filter((a) => !a.path.startsWith('spec.template.') && a !== replicas);
    if (template.length > 0) {
      apiRollsOut = true;
      const reasons: string[] = [];
      const hash = template.find((a) => a.path === `spec.template.metadata.annotations[${JSON.stringify(BUNDLE_HASH_ANNOTATION)}]`);
      if (hash) reasons.push("its pod template's bundle hash changed (new pods start, and re-verify the schema, after the migration)");
      const image = template.find((a) => /^spec\.template\.spec\.container\[[^\]]+\]\.image$/.test(a.path));
      if (image) reasons.push(`its image changed (${image.before} → ${image.after})`);
      const other = template.filter((a) => a !== hash && a !== image);
      if (other.length > 0) reasons.push(`its pod template changed: ${listPaths(other)}`);
      sentences.push(`The API rolls out: ${reasons.join('; ')}.`);
    }
    if (replicas) {
      sentences.push(
        `${label} is scaled from ${unquote(replicas.before)} to ${unquote(replicas.after)} replicas${template.length === 0 ? '; its pod template is unchanged, so the running pods stay (no rollout)' : ''}.`,
      );
    }
    if (rest.length > 0) sentences.push(`${label} changes in place: ${listPaths(rest)}${template.length === 0 ? ' (no rollout)' : ''}.`);
  }
  if (migrationRuns && apiRollsOut) {
    sentences.push(
      'Apply runs the Job first; the API rolls out only once the migration succeeded (the Deployment depends on the Job), so a failed migration leaves the API on its previous pod template.',
    );
  }

  for (const change of changes.filter((c) => c.type !== 'kubernetes_job_v1' && c.type !== 'kubernetes_deployment_v1')) {
    const what = `${change.kind} ${change.name || change.address}`;
    if (change.action === 'create') sentences.push(`${what} is created.`);
    else if (change.action === 'delete') sentences.push(`${what} is destroyed.`);
    else if (
      change.type === 'kubernetes_config_map_v1' &&
      change.attributes.every((a) => /^(binary_)?data\[/.test(a.path) || (change.action === 'replace' && a.path === 'metadata.name'))
    ) {
      // A bundle's ConfigMap under its new name (pairBundleObjects), or one changed in place.
      const data = change.attributes.filter((a) => a.path !== 'metadata.name');
      const entries = data.map((a) => ({
        field: a.path.slice(0, a.path.indexOf('[')),
        key: JSON.parse(a.path.slice(a.path.indexOf('[') + 1, -1)) as string,
        a,
      }));
      const moved = (e: (typeof entries)[number]) => entries.find((o) => o !== e && o.key === e.key && o.field !== e.field);
      const keys = entries
        .filter((e) => !(moved(e) && e.a.after === undefined))
        .map((e) => {
          const from = moved(e);
          if (from && e.a.before === undefined) return `${e.key} moved from ${from.field} to ${e.field}`;
          return `${e.key} ${e.a.before === undefined ? 'added' : e.a.after === undefined ? 'removed' : 'changed'}`;
        });
      const how = change.action === 'replace' ? `replaces ${change.previousName ?? "the previous bundle's"} (the bundle's own ConfigMap)` : 'changes in place';
      sentences.push(`${what} ${how}${keys.length > 0 ? `: ${keys.join(', ')}` : ', its files unchanged'}.`);
    } else sentences.push(`${what} is ${change.action === 'replace' ? 'replaced' : 'changed in place'}: ${listPaths(change.attributes)}.`);
  }
  return {
    job: { before: then.jobName, after: now.jobName },
    bundle: { before: then.bundleHash, after: now.bundleHash },
    migrationRuns,
    apiRollsOut,
    sentences,
  };
}

function listPaths(attributes: readonly AttributeChange[], max = 4): string {
  const paths = attributes.map((a) => a.path);
  return paths.length <= max ? paths.join(', ') : `${paths.slice(0, max).join(', ')} and ${paths.length - max} more`;
}

function unquote(value: string | undefined): string {
  if (value === undefined) return 'unset';
  return /^".*"$/.test(value) ? (JSON.parse(value) as string) : value;
}
