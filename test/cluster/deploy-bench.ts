/**
 * Deploy timings for `npm run bench` (bench/run.ts runs this as a process and puts its Markdown
 * in bench/results.md): `tofu apply` of the stack, from its start to the migration Job's Complete
 * condition and to the API Deployment's Available, for a first deploy and for a bundle change,
 * side by side with `kubectl apply` + `kubectl wait` of the same objects (what the API server and
 * controllers take anyway: the floor the provider's polling adds to). Medians of several runs.
 *
 * With --node the pods run for real on a kubelet (node.ts), against a PostgreSQL on the node's
 * address, a fresh database for every deploy: the runner really applies the bundle.
 *
 *   npx tsx test/cluster/deploy-bench.ts [--reps N] [--node]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeTemplate } from '../../src/stack/terraform-literals';
import { mustRun, startCommand } from './command';
import { KwokCluster } from './kwok-cluster';
import { Project } from './project';
import { summaryValue } from './stack-objects';
import { findToolchain, nodeMissing, type Toolchain } from './toolchain';
import type { NodeDatabase } from './node-database';
import { startStackNode, type StackNode } from './stack-node';

const NAMESPACE = 'gpu-controlplane';
const repsFlag = process.argv.indexOf('--reps');
const REPS = repsFlag > 0 ? Number(process.argv[repsFlag + 1]) : 5;
const ON_NODE = process.argv.includes('--node');

interface Milestones {
  readonly jobComplete: number;
  readonly available: number;
  /** tofu's own "Creation complete after Ns" of the Job and the Deployment (whole seconds). */
  readonly providerWaits?: { readonly job: number; readonly deployment: number };
}

/** Seconds tofu reports for creating or changing one resource of `type` ("…: Creation complete after 2s"). */
function creationSeconds(output: string, type: string): number {
  const match = new RegExp(`^${type}\\.\\S+: (?:Creation|Modifications) complete after (?:(\\d+)m)?(\\d+)s`, 'm').exec(output);
  if (!match) throw new Error(`tofu apply printed no creation time for ${type}:\n${output}`);
  return Number(match[1] ?? 0) * 60 + Number(match[2]);
}

/** Milliseconds from now until a Job of the namespace reports Complete (arrival time of the watch event). */
function watchJobComplete(cluster: KwokCluster, jobName: string): { readonly completeAt: Promise<number>; stop(): void } {
  let resolve: (at: number) => void = () => undefined;
  const completeAt = new Promise<number>((r) => (resolve = r));
  const template = '{.object.metadata.name} {.object.status.conditions[?(@.type=="Complete")].status}{"\\n"}';
  let buffered = '';
  const watch = startCommand(`${cluster.binDir}/kubectl`, ['get', 'jobs.batch', '-n', NAMESPACE, '--watch', '--output-watch-events', '-o', `jsonpath=${template}`], {
    env: { KUBECONFIG: cluster.kubeconfig },
    timeoutMs: 600_000,
    onStdout: (chunk) => {
      const now = Date.now();
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      if (lines.some((line) => line.trim() === `${jobName} True`)) resolve(now);
    },
  });
  return { completeAt, stop: () => void watch.stop() };
}

async function tofuApply(cluster: KwokCluster, project: Project, jobName: string): Promise<Milestones> {
  const watch = watchJobComplete(cluster, jobName);
  const started = Date.now();
  const applied = await project.mustTofu(['apply', '-auto-approve']);
  const available = Date.now() - started;
  const jobComplete = (await watch.completeAt) - started;
  watch.stop();
  const providerWaits = { job: creationSeconds(applied.stdout, 'kubernetes_job_v1'), deployment: creationSeconds(applied.stdout, 'kubernetes_deployment_v1') };
  return { jobComplete, available, providerWaits };
}

/** The stack's objects as the cluster holds them, cleaned into manifests kubectl can create again. */
async function manifests(cluster: KwokCluster): Promise<any[]> {
  const list = await cluster.kubectlJson(['get', 'configmaps,jobs,deployments,services', '-n', NAMESPACE, '-l', 'app.kubernetes.io/part-of!=none']);
  return list.items
    .filter((o: any) => o.metadata.name !== 'kube-root-ca.crt')
    .map((o: any) => {
      const { name, namespace, labels, annotations } = o.metadata;
      const metadata = { name, namespace, labels, annotations: { ...annotations } };
      delete metadata.annotations['deployment.kubernetes.io/revision'];
      const object: any = { apiVersion: o.apiVersion, kind: o.kind, metadata };
      if (o.kind === 'ConfigMap') Object.assign(object, { data: o.data, binaryData: o.binaryData });
      if (o.kind === 'Service') object.spec = { ...o.spec, clusterIP: undefined, clusterIPs: undefined };
      if (o.kind === 'Deployment') object.spec = o.spec;
      if (o.kind === 'Job') {
        const { selector: _selector, manualSelector: _manual, ...spec } = o.spec;
        const labels = Object.fromEntries(Object.entries<string>(spec.template.metadata.labels).filter(([k]) => !/(^|\/)(controller-uid|job-name)$/.test(k)));
        object.spec = { ...spec, template: { ...spec.template, metadata: { ...spec.template.metadata, labels } } };
      }
      return object;
    });
}

async function kubectlApply(cluster: KwokCluster, objects: any[], jobName: string): Promise<Milestones> {
  const kubectl = (args: string[]) => mustRun(`${cluster.binDir}/kubectl`, args, { env: { KUBECONFIG: cluster.kubeconfig }, timeoutMs: 300_000 });
  const migration = objects.filter((o) => o.kind === 'ConfigMap' || o.kind === 'Job');
  const api = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'Service');
  const started = Date.now();
  // Server-side: a client-side apply would store the 750 KB runner in an annotation (limit 256 KiB).
  await cluster.kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: migration }) });
  await kubectl(['wait', '-n', NAMESPACE, '--for=condition=complete', `job/${jobName}`, '--timeout=300s']);
  const jobComplete = Date.now() - started;
  await cluster.kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: api }) });
  await kubectl(['rollout', 'status', '-n', NAMESPACE, 'deployment/gpu-dev-api', '--timeout=300s']);
  return { jobComplete, available: Date.now() - started };
}

/**
 * `tofu plan -refresh=false` (no state: every object to create) of the synthesized stack, next to
 * the same stack with the runner as a text value (escaped, as before it went as binaryData):
 * what carrying 750 KB of JavaScript as a Terraform template costs each plan. Medians of `reps`.
 */
async function runnerAsTemplateCost(toolchain: Toolchain, kubeconfig: string, reps: number): Promise<string> {
  // A reachable API server: the plan reads the adoption data sources.
  const project = Project.create(toolchain, kubeconfig);
  try {
    await project.synth();
    await project.mustTofu(['init']);
    const stackFile = join(project.stackDir, 'cdk.tf.json');
    const synthesized = readFileSync(stackFile, 'utf8');
    const asText = JSON.parse(synthesized);
    for (const cm of Object.values<any>(asText.resource.kubernetes_config_map_v1)) {
      if (!cm.binary_data) continue;
      cm.data = Object.fromEntries(Object.entries<string>(cm.binary_data).map(([k, v]) => [k, escapeTemplate(Buffer.from(v, 'base64').toString('utf8'))]));
      delete cm.binary_data;
    }
    const variants = { 'runner as binaryData (the stack)': synthesized, 'runner as a text value': JSON.stringify(asText) };
    const times: Record<string, number[]> = {};
    for (let rep = 0; rep < reps; rep++) {
      for (const [name, text] of Object.entries(variants)) {
        writeFileSync(stackFile, text);
        const started = Date.now();
        await project.mustTofu(['plan', '-refresh=false', '-lock=false']);
        (times[name] ??= []).push(Date.now() - started);
      }
    }
    const [ours, text] = Object.values(times).map(median);
    return [
      `| tofu plan -refresh=false of the stack (medians of ${reps}) | time |`,
      '| --- | --- |',
      ...Object.entries(times).map(([name, t]) => `| ${name} | ${(median(t) / 1000).toFixed(1)} s |`),
      '',
      `As a text value the runner is a Terraform template of 750 KB full of \`$\` and \`%\`: ${(text / ours).toFixed(2)}× the plan time of the stack as it is.`,
    ].join('\n');
  } finally {
    project.remove();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main(): Promise<void> {
  const found = findToolchain();
  const why = 'missing' in found ? found.missing : ON_NODE ? nodeMissing() : undefined;
  if (why) {
    process.stdout.write(`Deploy timings${ON_NODE ? ' on the real node' : ''} not measured: ${why}.\n`);
    return;
  }
  const toolchain = found as Toolchain;
  const cluster = await KwokCluster.create(toolchain, 'gpu-dev-bench', { realNodes: ON_NODE });
  let stackNode: StackNode | undefined;
  let database: NodeDatabase | undefined;
  const projects: Project[] = [];
  const samples: Record<string, number[]> = {};
  const add = (key: string, m: Milestones) => {
    (samples[`${key} job`] ??= []).push(m.jobComplete);
    (samples[`${key} available`] ??= []).push(m.available);
    if (m.providerWaits) {
      (samples[`${key} provider job`] ??= []).push(m.providerWaits.job * 1000);
      (samples[`${key} provider deployment`] ??= []).push(m.providerWaits.deployment * 1000);
    }
  };
  const secret = { POSTGRES_USER: 'gpudev', POSTGRES_PASSWORD: 'bench', POSTGRES_DB: 'gpudev' };
  /** On the real node, every first deploy meets an empty database of its own (the Secret names it). */
  const freshDatabase = async (name: string) => {
    if (!database) return;
    await database.createDatabase(name, { pgmq: true });
    await cluster.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'postgres-credentials', namespace: NAMESPACE }, stringData: { ...database.secret, POSTGRES_DB: name } });
  };
  try {
    if (!ON_NODE) process.stdout.write(`${await runnerAsTemplateCost(toolchain, cluster.kubeconfig, REPS)}\n\n`);
    if (ON_NODE) {
      stackNode = await startStackNode(cluster);
      database = stackNode.database;
    }
    const project = Project.create(toolchain, cluster.kubeconfig, {
      settings: database ? { GPU_DEV_DATABASE_HOST: database.host, GPU_DEV_DATABASE_PORT: String(database.port) } : {},
    });
    projects.push(project);
    await cluster.createNamespaceAndSecret(NAMESPACE, database?.secret ?? secret);
    for (let rep = 0; rep < REPS; rep++) {
      await freshDatabase(`bench_tofu_${rep}`);
      project.writeSql('fixtures', '900_bench.sql', `SELECT ${rep * 2};\n`);
      const first = `db-migration-${summaryValue(await project.synth(), 'bundle').slice(0, 12)}`;
      if (rep === 0) await project.mustTofu(['init']);
      add('tofu first', await tofuApply(cluster, project, first));
      const firstObjects = await manifests(cluster);
      project.writeSql('fixtures', '900_bench.sql', `SELECT ${rep * 2 + 1};\n`);
      const changed = `db-migration-${summaryValue(await project.synth(), 'bundle').slice(0, 12)}`;
      add('tofu change', await tofuApply(cluster, project, changed));
      const changedObjects = await manifests(cluster);
      await project.mustTofu(['destroy', '-auto-approve']);

      await freshDatabase(`bench_kubectl_${rep}`);
      add('kubectl first', await kubectlApply(cluster, firstObjects, first));
      // A bundle change by hand: the old Job goes (as Terraform replaces it), the new objects are applied.
      await cluster.kubectl(['delete', 'job', first, '-n', NAMESPACE, '--cascade=foreground', '--wait=true']);
      add('kubectl change', await kubectlApply(cluster, changedObjects, changed));
      await cluster.kubectl(['delete', 'configmaps,jobs,deployments,services', '-n', NAMESPACE, '-l', 'app.kubernetes.io/part-of!=none', '--field-selector', 'metadata.name!=kube-root-ca.crt', '--wait=true']);
    }
  } finally {
    await stackNode?.stop();
    await cluster.delete();
    for (const p of projects) p.remove();
  }
  const s = (key: string) => (median(samples[key]) / 1000).toFixed(1);
  const ratio = (a: string, b: string) => (median(samples[a]) / median(samples[b])).toFixed(2);
  const where = ON_NODE ? 'real node: kubelet, containerd, runc; the runner applies to PostgreSQL 18' : 'kwok nodes';
  const rows = [
    `| deploy (${where}) | tofu apply | kubectl apply + wait | ratio |`,
    '| --- | --- | --- | --- |',
    ...(['first', 'change'] as const).flatMap((kind) => [
      `| ${kind === 'first' ? 'first deploy' : 'bundle change'}: to Job complete | ${s(`tofu ${kind} job`)} s | ${s(`kubectl ${kind} job`)} s | ${ratio(`tofu ${kind} job`, `kubectl ${kind} job`)}× |`,
      `| ${kind === 'first' ? 'first deploy' : 'bundle change'}: to Deployment available | ${s(`tofu ${kind} available`)} s | ${s(`kubectl ${kind} available`)} s | ${ratio(`tofu ${kind} available`, `kubectl ${kind} available`)}× |`,
    ]),
  ];
  const waits = (['first', 'change'] as const)
    .map((kind) => `${kind === 'first' ? 'first deploy' : 'bundle change'}: Job ${s(`tofu ${kind} provider job`)} s, Deployment ${s(`tofu ${kind} provider deployment`)} s`)
    .join('; ');
  process.stdout.write(
    `Medians of ${REPS} run(s) on one kwokctl control plane (${where}).\n\n${rows.join('\n')}\n\n` +
      `Of tofu's time, creating and waiting for the two objects Kubernetes has to run took (tofu's own "Creation complete after", whole seconds) ${waits}. ` +
      'The rest is OpenTofu itself: start-up, loading the provider, refreshing and planning, the ConfigMaps; the floor, kubectl, needs none of that.\n',
  );
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exitCode = 1;
});
