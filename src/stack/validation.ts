import { Token } from 'cdktf';
import type { IConstruct } from 'constructs';
import { Duration } from '../kernel/duration';
import { dns1123LabelProblem, dns1123SubdomainProblem } from '../kernel/kubernetes-names';

/**
 * The rules values of the stack must pass (Kubernetes names and quantities, images, whole-second
 * durations), and the one way they are applied: `check`, naming where the value came from. Each
 * construct declares its props' defaults and rules with these (PropSpec); config.ts parses the
 * settings into those same props, so every default and every rule is written once.
 */

/**
 * A value that breaks a rule, found while building the stack (before anything is written).
 * `subject` says where the value came from: a setting (`GPU_DEV_API_REPLICAS`), a construct prop
 * (`DatabaseMigration prop backoffLimit`) or an input file.
 */
export class InvalidValueError extends Error {
  constructor(
    readonly subject: string,
    readonly value: unknown,
    readonly rule: string,
  ) {
    super(value === undefined ? `${subject} is not set: it ${rule}` : `${subject} = ${shown(value)}: ${rule}`);
    this.name = 'InvalidValueError';
  }
}

/**
 * A value as its message shows it: JSON, a Duration as written ("15m"). (Duration has no toJSON:
 * the kernel is bundled into the runner, whose bytes name the migration Job.)
 */
function shown(value: unknown): string {
  return JSON.stringify(value instanceof Duration ? value.toString() : value);
}

/** A check returns the rule the value breaks, or undefined when it is fine. */
export type Check<T> = (value: T) => string | undefined;

/**
 * Returns the value when it passes every check. A Terraform reference (e.g. the namespace the
 * stack creates) is known only at apply time and is passed through unchecked.
 */
export function check<T>(subject: string, value: T, ...checks: Check<T>[]): T {
  if (Token.isUnresolved(value)) return value;
  for (const c of checks) {
    const broken = c(value);
    if (broken) throw new InvalidValueError(subject, value, broken);
  }
  return value;
}

/** Namespaces, Services, Job names (the kernel's rule). */
export const dns1123Label: Check<string> = dns1123LabelProblem;

/** ConfigMap, Secret, Deployment names and host names (the kernel's rule). */
export const dns1123Subdomain: Check<string> = dns1123SubdomainProblem;

/** `registry/path/name:tag` or `…@sha256:digest`; whitespace or an empty value never pulls. */
export const imageReference: Check<string> = (v) =>
  /^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$/.test(v)
    ? undefined
    : 'must be an image reference such as node:20-bookworm-slim or registry.example.com/team/name@sha256:<64 hex>';

export function integerBetween(min: number, max: number): Check<number> {
  return (v) => (Number.isInteger(v) && v >= min && v <= max ? undefined : `must be a whole number from ${min} to ${max}`);
}

export const postgresIdentifier: Check<string> = (v) =>
  /^[a-z_][a-z0-9_]{0,62}$/.test(v) ? undefined : 'must be a lower-case PostgreSQL identifier (a-z, 0-9, _; at most 63 characters)';

/** A relative path that stays relative: absolute paths would make the output machine-specific. */
export const relativePath: Check<string> = (v) =>
  v.length > 0 && !v.startsWith('/') && !v.startsWith('~') && !/^[A-Za-z]:[\\/]/.test(v)
    ? undefined
    : 'must be a relative path (an absolute path would make cdk.tf.json differ from machine to machine)';

/** Kubernetes CPU quantity in millicores ("100m", "0.5", "2"); undefined when not one. */
function cpuMillicores(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(m?)$/.exec(text);
  if (!match) return undefined;
  return match[2] === 'm' ? Number(match[1]) : Number(match[1]) * 1000;
}

const MEMORY_UNITS: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };

/** Kubernetes memory quantity in bytes ("64Mi", "1G", "1048576"); undefined when not one. */
function memoryBytes(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(k|M|G|Ki|Mi|Gi)?$/.exec(text);
  return match ? Number(match[1]) * MEMORY_UNITS[match[2] ?? ''] : undefined;
}

export const cpuQuantity: Check<string> = (v) => ((cpuMillicores(v) ?? 0) > 0 ? undefined : 'must be a positive CPU quantity such as 100m, 0.5 or 2');

export const memoryQuantity: Check<string> = (v) => ((memoryBytes(v) ?? 0) > 0 ? undefined : 'must be a positive memory quantity such as 64Mi, 1Gi or 512M');

/** Requests and limits of one container, as Kubernetes quantities. */
export interface ContainerResources {
  readonly cpuRequest: string;
  readonly memoryRequest: string;
  readonly cpuLimit: string;
  readonly memoryLimit: string;
}

/**
 * Validates each quantity, and that no request exceeds its limit (Kubernetes would refuse the
 * pod at apply time; here it fails at synth). `subject(field)` names the field in messages.
 */
export function checkResources(resources: ContainerResources, subject: (field: keyof ContainerResources) => string): ContainerResources {
  check(subject('cpuRequest'), resources.cpuRequest, cpuQuantity);
  check(subject('cpuLimit'), resources.cpuLimit, cpuQuantity);
  check(subject('memoryRequest'), resources.memoryRequest, memoryQuantity);
  check(subject('memoryLimit'), resources.memoryLimit, memoryQuantity);
  check(subject('cpuRequest'), resources.cpuRequest, (v) =>
    (cpuMillicores(v) as number) <= (cpuMillicores(resources.cpuLimit) as number) ? undefined : `must not exceed the CPU limit ${resources.cpuLimit}`,
  );
  check(subject('memoryRequest'), resources.memoryRequest, (v) =>
    (memoryBytes(v) as number) <= (memoryBytes(resources.memoryLimit) as number) ? undefined : `must not exceed the memory limit ${resources.memoryLimit}`,
  );
  return resources;
}

export function toKubernetesResources(r: ContainerResources) {
  return { requests: { cpu: r.cpuRequest, memory: r.memoryRequest }, limits: { cpu: r.cpuLimit, memory: r.memoryLimit } };
}

/** A duration in whole seconds ("90s", "15m"), as Kubernetes and Terraform timeouts count. */
export const wholeSeconds: Check<Duration> = (v) => (v.isWholeSeconds() ? undefined : 'must be a whole number of seconds, such as 90s or 15m');

/**
 * Terraform's wait must outlast the deadline Kubernetes enforces, so that a stuck Job or rollout
 * fails in Kubernetes, with its reason, before Terraform gives up with a bare time-out.
 * `deadlineName` is how the caller calls the deadline (a prop or a setting); `what` is waited for.
 */
export function outlasts(deadline: Duration, deadlineName: string, what = 'the Job'): Check<Duration> {
  return (v) =>
    v.isLongerThan(deadline) ? undefined : `must be longer than ${deadlineName} (${deadline}), or Terraform stops waiting while ${what} may still run`;
}

/**
 * A construct prop's default and the rule a given value must pass: written once, in the
 * construct's table of props, and read by the construct and by config.ts. No `default`: none.
 */
export interface PropSpec<T> {
  readonly default?: T;
  readonly rule: Check<T>;
}

/** A construct's props table: a spec for each prop that has a rule. */
export type PropSpecs<Props> = { readonly [K in keyof Props]?: PropSpec<NonNullable<Props[K]>> };

/** What reading a prop gives: its type, or possibly undefined when its spec has no default. */
type PropValue<Spec> = Spec extends { readonly default: unknown; readonly rule: Check<infer T> } ? T : Spec extends PropSpec<infer T> ? T | undefined : never;

/**
 * Reads a construct's props against its table: a prop that is given must pass its rule (the
 * message names `subject(name)`), one that is not takes the default, trusted as written.
 */
export function propReader<Props extends object, Specs extends PropSpecs<Props>>(subject: (name: keyof Props & string) => string, props: Props, specs: Specs) {
  return <K extends keyof Specs & keyof Props & string>(name: K): PropValue<Specs[K]> => {
    const spec = specs[name] as PropSpec<unknown>;
    const given = props[name];
    return (given === undefined ? spec.default : check(subject(name), given, spec.rule)) as PropValue<Specs[K]>;
  };
}

/** What a message calls a prop: the subject when it is refused, the name where another prop's rule mentions it. */
export interface PropName {
  readonly subject: string;
  readonly name: string;
}

/** Per scope, per id of a construct it builds: what that construct's messages call its props. */
const RENAMED = new WeakMap<IConstruct, Map<string, Readonly<Partial<Record<string, PropName>>>>>();

/**
 * For a scope that feeds a construct's props from its own inputs: the construct it builds as `id`
 * calls those props `names` in its refusals. The stack names the settings, so a rule that only the
 * construct checks (e.g. DatabaseMigration's timeout outlasting activeDeadline) still tells a user
 * of environment variables which one to change. Call it before building the construct.
 */
export function renameProps<Props>(scope: IConstruct, id: string, names: { readonly [K in keyof Props]?: PropName }): void {
  RENAMED.set(scope, (RENAMED.get(scope) ?? new Map()).set(id, names));
}

/** What `construct`'s messages call its props: as its scope renamed them, else `<kind> <path> prop <name>`. */
export function propNames<Props>(construct: IConstruct, kind: string) {
  const scope = construct.node.scope;
  const renamed = scope === undefined ? undefined : RENAMED.get(scope)?.get(construct.node.id);
  return {
    subject: (prop: keyof Props & string): string => renamed?.[prop]?.subject ?? `${kind} ${construct.node.path} prop ${prop}`,
    name: (prop: keyof Props & string): string => renamed?.[prop]?.name ?? prop,
  };
}

/** Requests and limits as given (each checked, none above its limit), or the construct's default. */
export function resourcesProp(subject: string, given: ContainerResources | undefined, fallback: ContainerResources): ContainerResources {
  return given === undefined ? fallback : checkResources(given, (field) => `${subject}.${field}`);
}

/**
 * Why a literal text cannot reach the cluster unchanged through Terraform, or undefined when it
 * can (terraform-literals.ts escapes the rest). Terraform normalizes every string to Unicode NFC,
 * so text in another normal form would arrive with other bytes (and the bundle hash would no
 * longer match); and text holding cdktf's own token marker would be read by cdktf as a reference.
 */
export function unrepresentable(text: string): { readonly index: number; readonly rule: string } | undefined {
  if (Token.isUnresolved(text)) {
    return {
      index: Math.max(0, text.search(/[$#&]\{TfToken\[/)),
      rule: 'holds cdktf\'s token marker "${TfToken[…]}", which cdktf would read as a reference: write it another way (e.g. split the string)',
    };
  }
  const normalized = text.normalize('NFC');
  if (normalized === text) return undefined;
  let index = 0;
  while (index < text.length && text[index] === normalized[index]) index++;
  return {
    index,
    rule: 'is not in Unicode normal form NFC: Terraform normalizes every string to NFC, so the cluster would get other bytes than the file (and the bundle hash would not match); save the file NFC-normalized',
  };
}
