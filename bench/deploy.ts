/**
 * Deploy timings for `npm run bench` (bench/run.ts runs this as a process and puts its Markdown
 * in bench/results.md): `tofu apply` of the stack, from its start to the migration Job's Complete
 * condition and to the API Deployment's Available, for a first deploy and for a bundle change,
 * side by side with `kubectl apply` + `kubectl wait` of the same objects (what the API server and
 * controllers take anyway: the floor), for both places the runner can come from (the product
 * image, the default; a ConfigMap). Where OpenTofu's time goes, phase by phase, from its own
 * `-json` events. `tofu plan` of the unchanged, deployed stack next to `kubectl diff` of the same
 * objects. Medians of several runs.
 *
 * With --node the pods run for real on a kubelet (node.ts), against a PostgreSQL on the node's
 * address, a fresh database for every deploy: the runner really applies the bundle.
 *
 *   npx tsx bench/deploy.ts [--reps N] [--node]
 */
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mustRun, runCommand, startCommand } from '../harness/command';
import { KwokCluster } from '../harness/kwok-cluster';
import { Project } from '../harness/project';
import { summaryValue } from '../harness/stack-objects';
import { findToolchain, nodeMissing, type Toolchain } from '../harness/toolchain';
import type { NodeDatabase } from '../harness/node-database';
import { startStackNode, type StackNode } from '../harness/stack-node';

const NAMESPACE = 'gpu-controlplane';
const repsFlag = process.argv.indexOf('--reps');
const REPS = repsFlag > 0 ? Number(process.argv[repsFlag + 1]) : 5;
const ON_NODE = process.argv.includes('--node');
/** Where the Job's runner comes from: the settings of each. */
type Layout = 'image' | 'configmap';
const LAYOUTS: Readonly<Record<Layout, Readonly<Record<string, string>>>> = { image: {}, configmap: { GPU_DEV_RUNNER_SOURCE: 'configmap' } };

interface Milestones {
  readonly jobComplete: number;
  readonly available: number;
  /** Where tofu's time went, phase by phase (milliseconds), from its -json events. */
  readonly phases?: Readonly<Record<Phase, number>>;
}

const PHASES = {
  startup: 'start-up: OpenTofu, the provider and its configuration, to the first read',
  plan: "reads (the adoption lists, the state's objects) and the plan",
  beforeJob: 'objects created or changed before the Job (the owner and SQL ConfigMaps)',
  jobRun: 'the Job created, run and seen complete (the provider polls it)',
  pollLag: "of which: from the Job's Complete condition to the provider seeing it",
  rollout: 'the API Deployment created or changed and its rollout waited for',
  oldJob: "the previous bundle's Job and ConfigMaps deleted (beside the new Job, not before it)",
  exit: 'state written, OpenTofu exits',
} as const;
type Phase = keyof typeof PHASES;

interface TofuEvent {
  readonly at: number;
  readonly type: string;
  readonly address: string;
  readonly action: string;
}

/** `tofu apply -json`'s events, their times in milliseconds from `started`. */
function tofuEvents(stdout: string, started: number): TofuEvent[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line))
    .map((e) => ({ at: Date.parse(e['@timestamp']) - started, type: e.type, address: e.hook?.resource?.addr ?? '', action: e.hook?.action ?? '' }));
}

/** The phases of one apply: each span between the events that bound it. */
function phasesOf(events: readonly TofuEvent[], jobComplete: number, total: number): Record<Phase, number> {
  const find = (predicate: (e: TofuEvent) => boolean, what: string): TofuEvent => {
    const found = events.find(predicate);
    if (!found) throw new Error(`tofu apply -json has no event for ${what}`);
    return found;
  };
  const isNewJob = (e: TofuEvent) => e.address.startsWith('kubernetes_job_v1.') && e.action !== 'delete';
  const firstRead = find((e) => e.type === 'apply_start' || e.type === 'refresh_start', 'the first read');
  const planned = find((e) => e.type === 'change_summary', 'the plan');
  const jobStart = find((e) => e.type === 'apply_start' && isNewJob(e), "the Job's creation");
  const jobSeen = find((e) => e.type === 'apply_complete' && isNewJob(e), "the Job's completion");
  const rolloutStart = find((e) => e.type === 'apply_start' && e.address.startsWith('kubernetes_deployment_v1.'), 'the Deployment');
  const rolloutEnd = find((e) => e.type === 'apply_complete' && e.address.startsWith('kubernetes_deployment_v1.'), 'the rollout');
  const deleteStart = events.find((e) => e.type === 'apply_start' && e.action === 'delete');
  const deleteEnd = events.find((e) => e.type === 'apply_complete' && e.action === 'delete');
  const last = events.filter((e) => e.type === 'apply_complete').pop() ?? rolloutEnd;
  return {
    startup: firstRead.at,
    plan: planned.at - firstRead.at,
    beforeJob: jobStart.at - planned.at,
    jobRun: jobSeen.at - jobStart.at,
    pollLag: jobSeen.at - jobComplete,
    rollout: rolloutEnd.at - rolloutStart.at,
    oldJob: deleteStart && deleteEnd ? deleteEnd.at - deleteStart.at : 0,
    exit: total - last.at,
  };
}

/** Milliseconds from now until a Job of the namespace reports Complete (arrival time of the watch event). */
function watchJobComplete(cluster: KwokCluster, jobName: string): { readonly completeAt: Promise<number>; stop(): void } {
  let resolve: (at: number) => void = () => undefined;
  const completeAt = new Promise<number>((r) => (resolve = r));
  const template = '{.object.metadata.name} {.object.status.conditions[?(@.type=="Complete")].status}{"\\n"}';
  let buffered = '';
  const watch = startCommand(
    `${cluster.binDir}/kubectl`,
    ['get', 'jobs.batch', '-n', NAMESPACE, '--watch', '--output-watch-events', '-o', `jsonpath=${template}`],
    {
      env: { KUBECONFIG: cluster.kubeconfig },
      timeoutMs: 600_000,
      onStdout: (chunk) => {
        const now = Date.now();
        buffered += chunk;
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        if (lines.some((line) => line.trim() === `${jobName} True`)) resolve(now);
      },
    },
  );
  return { completeAt, stop: () => void watch.stop() };
}

async function tofuApply(cluster: KwokCluster, project: Project, jobName: string): Promise<Milestones> {
  const watch = watchJobComplete(cluster, jobName);
  const started = Date.now();
  const applied = await project.mustTofu(['apply', '-auto-approve', '-json']);
  const available = Date.now() - started;
  const jobComplete = (await watch.completeAt) - started;
  watch.stop();
  return { jobComplete, available, phases: phasesOf(tofuEvents(applied.stdout, started), jobComplete, available) };
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
  const push = (key: string, value: number) => (samples[key] ??= []).push(value);
  const add = (key: string, m: Milestones) => {
    push(`${key} job`, m.jobComplete);
    push(`${key} available`, m.available);
    for (const [phase, ms] of Object.entries(m.phases ?? {})) push(`${key} ${phase}`, ms);
  };
  const secret = { POSTGRES_USER: 'gpudev', POSTGRES_PASSWORD: 'bench', POSTGRES_DB: 'gpudev' };
  /** On the real node, every first deploy meets an empty database of its own (the Secret names it). */
  const freshDatabase = async (name: string) => {
    if (!database) return;
    await database.createDatabase(name, { pgmq: true });
    await cluster.apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'postgres-credentials', namespace: NAMESPACE },
      stringData: { ...database.secret, POSTGRES_DB: name },
    });
  };
  const sizes: Record<string, { config: number; state: number }> = {};
  try {
    if (ON_NODE) {
      stackNode = await startStackNode(cluster);
      database = stackNode.database;
    }
    const settings: Record<string, string> = database ? { GPU_DEV_DATABASE_HOST: database.host, GPU_DEV_DATABASE_PORT: String(database.port) } : {};
    const layoutProjects = Object.fromEntries(
      Object.entries(LAYOUTS).map(([layout, extra]) => [layout, Project.create(toolchain, cluster.kubeconfig, { settings: { ...settings, ...extra } })]),
    ) as Record<Layout, Project>;
    projects.push(...Object.values(layoutProjects));
    await cluster.createNamespaceAndSecret(NAMESPACE, database?.secret ?? secret);
    const diffDir = mkdtempSync(join(tmpdir(), 'gpu-dev-bench-diff-'));
    for (let rep = 0; rep < REPS; rep++) {
      let firstObjects: any[] = [];
      let changedObjects: any[] = [];
      let first = '';
      let changed = '';
      // The layouts in turn, the order rotating: the same cluster, the same database server.
      const order = (Object.keys(LAYOUTS) as Layout[]).map((_, i, all) => all[(i + rep) % all.length]);
      for (const layout of order) {
        const project = layoutProjects[layout];
        await freshDatabase(`bench_${layout}_${rep}`);
        project.writeSql('fixtures', '900_bench.sql', `SELECT ${rep * 2};\n`);
        const firstName = `db-migration-${summaryValue(await project.synth(), 'bundle').slice(0, 12)}`;
        if (rep === 0) await project.mustTofu(['init']);
        add(`${layout} first`, await tofuApply(cluster, project, firstName));
        sizes[layout] = { config: statSync(join(project.stackDir, 'cdk.tf.json')).size, state: statSync(join(project.root, 'terraform.gpu-dev.tfstate')).size };
        // The unchanged, deployed stack: what every plan of it costs.
        const planStarted = Date.now();
        const plan = await project.tofu(['plan', '-detailed-exitcode']);
        if (plan.code !== 0) throw new Error(`tofu plan of the unchanged stack (${layout}) exited ${plan.code}: ${plan.stderr || plan.stdout}`);
        push(`${layout} plan`, Date.now() - planStarted);
        if (layout === 'image') {
          firstObjects = await manifests(cluster);
          first = firstName;
          const file = join(diffDir, 'objects.json');
          writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: firstObjects }));
          const diffStarted = Date.now();
          const diff = await runCommand(`${cluster.binDir}/kubectl`, ['diff', '--server-side', '-f', file], {
            env: { KUBECONFIG: cluster.kubeconfig },
            timeoutMs: 120_000,
          });
          // 0: no difference, 1: differences (fields the API server defaults); >1 is an error.
          if ((diff.code ?? 2) > 1) throw new Error(`kubectl diff exited ${diff.code}: ${diff.stderr}`);
          push('kubectl diff', Date.now() - diffStarted);
        }
        project.writeSql('fixtures', '900_bench.sql', `SELECT ${rep * 2 + 1};\n`);
        const changedName = `db-migration-${summaryValue(await project.synth(), 'bundle').slice(0, 12)}`;
        add(`${layout} change`, await tofuApply(cluster, project, changedName));
        if (layout === 'image') {
          changedObjects = await manifests(cluster);
          changed = changedName;
        }
        await project.mustTofu(['destroy', '-auto-approve']);
      }

      await freshDatabase(`bench_kubectl_${rep}`);
      add('kubectl first', await kubectlApply(cluster, firstObjects, first));
      // A bundle change by hand: the new objects are applied, then the old Job goes (as the stack does).
      add(
        'kubectl change',
        await kubectlApply(
          cluster,
          changedObjects.filter((o) => !(o.kind === 'Job' && o.metadata.name === first)),
          changed,
        ),
      );
      await cluster.kubectl(['delete', 'job', first, '-n', NAMESPACE, '--cascade=foreground', '--wait=true']);
      await cluster.kubectl([
        'delete',
        'configmaps,jobs,deployments,services',
        '-n',
        NAMESPACE,
        '-l',
        'app.kubernetes.io/part-of!=none',
        '--field-selector',
        'metadata.name!=kube-root-ca.crt',
        '--wait=true',
      ]);
    }
  } finally {
    await stackNode?.stop();
    await cluster.delete();
    for (const p of projects) p.remove();
  }
  const med = (key: string) => median(samples[key]);
  const s = (key: string) => (med(key) / 1000).toFixed(1);
  const ratio = (a: string, b: string) => (med(a) / med(b)).toFixed(2);
  const where = ON_NODE ? 'real node: kubelet, containerd, runc; the runner applies to PostgreSQL 18' : 'kwok nodes';
  const kinds = [
    ['first', 'first deploy'],
    ['change', 'bundle change'],
  ] as const;
  const rows = [
    `| deploy (${where}) | tofu apply, runner in the image | ratio to the floor | tofu apply, runner in a ConfigMap | ratio | kubectl apply + wait (the floor) |`,
    '| --- | --- | --- | --- | --- | --- |',
    ...kinds.flatMap(([kind, label]) =>
      (['job', 'available'] as const).map(
        (milestone) =>
          `| ${label}: to ${milestone === 'job' ? 'Job complete' : 'Deployment available'} | ${s(`image ${kind} ${milestone}`)} s | ${ratio(`image ${kind} ${milestone}`, `kubectl ${kind} ${milestone}`)}× | ` +
          `${s(`configmap ${kind} ${milestone}`)} s | ${ratio(`configmap ${kind} ${milestone}`, `kubectl ${kind} ${milestone}`)}× | ${s(`kubectl ${kind} ${milestone}`)} s |`,
      ),
    ),
  ];
  const breakdown = [
    '| phase of tofu apply (runner in the image) | first deploy | bundle change |',
    '| --- | --- | --- |',
    ...(Object.entries(PHASES) as [Phase, string][]).map(([phase, label]) => `| ${label} | ${s(`image first ${phase}`)} s | ${s(`image change ${phase}`)} s |`),
    `| whole apply | ${s('image first available')} s | ${s('image change available')} s |`,
  ];
  const kb = (bytes: number) => `${Math.round(bytes / 1000)} KB`;
  const plans = [
    '| the unchanged, deployed stack | time | configuration | state |',
    '| --- | --- | --- | --- |',
    `| tofu plan, runner in the image | ${s('image plan')} s | ${kb(sizes.image.config)} | ${kb(sizes.image.state)} |`,
    `| tofu plan, runner in a ConfigMap | ${s('configmap plan')} s | ${kb(sizes.configmap.config)} | ${kb(sizes.configmap.state)} |`,
    `| kubectl diff --server-side of the same objects | ${s('kubectl diff')} s | | |`,
  ];
  process.stdout.write(
    `Medians of ${REPS} run(s) on one kwokctl control plane (${where}).\n\n${rows.join('\n')}\n\n${breakdown.join('\n')}\n\n${plans.join('\n')}\n`,
  );
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exitCode = 1;
});
