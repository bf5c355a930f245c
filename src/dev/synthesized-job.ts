import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { literalValue } from '../stack/terraform-literals';

/**
 * Runs what the stack synthesized the way the cluster would, from cdk.tf.json alone: the
 * Job's command, args, env and volume mounts, and the ConfigMaps' data. `npm run local` and
 * the stack's tests both use it, so "it ran locally" means "the Job's bytes ran". Strings are
 * read as Terraform reads them (escapes undone; an unescaped `${` is an error).
 */

/** The parts of cdk.tf.json this reads. */
export interface SynthesizedJson {
  terraform: Record<string, any>;
  provider: Record<string, any>;
  output: Record<string, { value: string }>;
  resource: Record<string, Record<string, any>>;
  /** Adoption's import blocks (src/stack/constructs/adoption.ts). */
  import: { for_each: string; to: string; id: string }[];
}

export interface SynthesizedJob {
  readonly json: SynthesizedJson;
  /** The kubernetes_job_v1 resource. */
  readonly job: any;
}

export function readSynthesizedJob(stackFile: string): SynthesizedJob {
  const json = JSON.parse(readFileSync(stackFile, 'utf8')) as SynthesizedJson;
  const jobs = Object.values(json.resource.kubernetes_job_v1 ?? {});
  if (jobs.length !== 1) throw new Error(`${stackFile}: expected one kubernetes_job_v1, found ${jobs.length}`);
  return { json, job: jobs[0] };
}

/**
 * A ConfigMap volume as the kubelet writes it: the files in a `..<timestamp>` folder, `..data`
 * pointing at it, and one symlink per key into `..data/`.
 */
function layOutLikeKubelet(dir: string, data: Record<string, Buffer>, mode: number): void {
  const stamp = '..2026_01_01_00_00_00.123456789';
  mkdirSync(join(dir, stamp), { recursive: true });
  for (const [key, value] of Object.entries(data)) {
    writeFileSync(join(dir, stamp, key), value);
    chmodSync(join(dir, stamp, key), mode);
    symlinkSync(join('..data', key), join(dir, key));
  }
  symlinkSync(stamp, join(dir, '..data'));
}

/** Lays the pod's volumes out under `root`, one folder per mount; a projected volume merges its sources. */
function mountVolumes({ json, job }: SynthesizedJob, root: string): (path: string) => string {
  // Read when a volume names it: the deploy-owner ConfigMap holds an expression for OpenTofu, not a file.
  const configMap = (name: string): Record<string, Buffer> => {
    const cm: any = Object.values(json.resource.kubernetes_config_map_v1).find((c: any) => c.metadata.name === name);
    if (!cm) throw new Error(`the Job mounts ConfigMap ${name}, which cdk.tf.json does not have`);
    return Object.fromEntries([
      ...Object.entries((cm.data ?? {}) as Record<string, string>).map(([key, value]) => [literalValue(key), Buffer.from(literalValue(value), 'utf8')]),
      ...Object.entries((cm.binary_data ?? {}) as Record<string, string>).map(([key, value]) => [literalValue(key), Buffer.from(value, 'base64')]),
    ]);
  };
  const pod = job.spec.template.spec;
  const mounts: { mount_path: string; name: string }[] = pod.container[0].volume_mount;
  for (const volume of pod.volume) {
    const sources: { name: string; default_mode?: string }[] = volume.config_map
      ? [volume.config_map]
      : volume.projected[0].sources.map((s: any) => ({ ...s.config_map[0], default_mode: volume.projected[0].default_mode }));
    const data = Object.assign({}, ...sources.map((s) => configMap(s.name)));
    const mount = mounts.find((m) => m.name === volume.name);
    if (!mount) throw new Error(`volume ${volume.name} is not mounted`);
    layOutLikeKubelet(join(root, mount.mount_path), data, parseInt(sources[0].default_mode ?? '0644', 8));
  }
  return (arg) => {
    const mount = mounts.find((m) => arg === m.mount_path || arg.startsWith(`${m.mount_path}/`));
    return mount ? join(root, arg) : arg;
  };
}

/**
 * The Job's container as a local process: `node` and its arguments with mount paths and the
 * image's files under `podRoot`, and its environment with secret references resolved from
 * `secret` and any variable overridden by `resolved` (POSTGRES_HOST and POSTGRES_PORT: what
 * cluster DNS does). `imageFiles` are the files of the Job's image it runs, by their path in the
 * image (the product image's runner: the bytes the Dockerfile builds from this checkout).
 */
export function jobProcess(
  synthesized: SynthesizedJob,
  podRoot: string,
  secret: Readonly<Record<string, string>>,
  resolved: Readonly<Record<string, string>>,
  imageFiles: Readonly<Record<string, Buffer>> = {},
): { args: string[]; env: Record<string, string> } {
  const [container] = synthesized.job.spec.template.spec.container;
  const mounted = mountVolumes(synthesized, podRoot);
  for (const [path, bytes] of Object.entries(imageFiles)) {
    mkdirSync(join(podRoot, dirname(path)), { recursive: true });
    writeFileSync(join(podRoot, path), bytes);
  }
  const inPod = (arg: string) => (arg in imageFiles ? join(podRoot, arg) : mounted(arg));
  // The kubelet gives each container its termination-message file; here it is one under podRoot.
  const terminationLog: string | undefined = container.termination_message_path;
  const inPodFile = (value: string) => {
    if (value !== terminationLog) return value;
    mkdirSync(join(podRoot, dirname(value)), { recursive: true });
    return join(podRoot, value);
  };
  // What the kubelet fills in: a Secret's key, or (downward API) the Job's namespace.
  const fromSource = (source: any): string => {
    if (source.secret_key_ref) return secret[source.secret_key_ref.key];
    if (source.field_ref?.field_path === 'metadata.namespace') return literalValue(synthesized.job.metadata.namespace);
    throw new Error(`the Job's environment takes a value from ${JSON.stringify(source)}, which this reader cannot provide`);
  };
  const env = Object.fromEntries(
    container.env.map((e: any) => [e.name, e.value_from ? fromSource(e.value_from) : (resolved[e.name] ?? inPodFile(literalValue(e.value)))]),
  );
  const [program, ...commandArgs] = container.command as string[];
  if (program !== 'node') throw new Error(`the Job's command is ${program}, not node: it cannot run here`);
  return { args: [...commandArgs, ...(container.args as string[])].map(literalValue).map(inPod), env };
}
