import { startCommand } from './command';
import type { KwokCluster } from './kwok-cluster';

/** Reading and steering the stack's objects in a test cluster. */

/** A value of `npm run synth`'s summary (`job`, `bundle`, …): the text after the label on its line. */
export function summaryValue(summary: string, label: string): string {
  const line = summary.split('\n').find((l) => l.startsWith(`${label} `));
  if (!line) throw new Error(`synth summary has no "${label}" line:\n${summary}`);
  return line.slice(label.length).trim().split(/\s+/)[0];
}

export async function jobOf(cluster: KwokCluster, namespace: string, name: string): Promise<any> {
  return cluster.kubectlJson(['get', 'job', name, '-n', namespace]);
}

/** The migration Jobs in the namespace (label app=database-migration). */
export async function migrationJobs(cluster: KwokCluster, namespace: string): Promise<any[]> {
  return (await cluster.kubectlJson(['get', 'jobs', '-n', namespace, '-l', 'app=database-migration'])).items;
}

interface WatchEvent {
  readonly type: string;
  readonly kind: string;
  readonly name: string;
  /** etcd's revision of the change: one counter for every object of the cluster (kube-apiserver's etcd3 store). */
  readonly revision: number;
  /** The Job's Complete condition status, when it has one. */
  readonly complete: string;
}

export interface Watch {
  /** Ends the watches; every event, ordered by revision (the order etcd committed them). */
  stop(): Promise<WatchEvent[]>;
}

/**
 * Watches of the namespace's Jobs and Deployments (kubectl watches one type at a time), merged by
 * revision, which orders changes across types.
 */
export function startWatch(cluster: KwokCluster, namespace: string): Watch {
  const template =
    '{.type} {.object.kind} {.object.metadata.name} {.object.metadata.resourceVersion} {.object.status.conditions[?(@.type=="Complete")].status}{"\\n"}';
  const watches = ['jobs.batch', 'deployments.apps'].map((type) =>
    startCommand(`${cluster.binDir}/kubectl`, ['get', type, '-n', namespace, '--watch', '--output-watch-events', '-o', `jsonpath=${template}`], {
      env: { KUBECONFIG: cluster.kubeconfig },
      timeoutMs: 600_000,
    }),
  );
  return {
    stop: async () => {
      const results = await Promise.all(watches.map((w) => w.stop()));
      return results
        .flatMap((result) => result.stdout.split('\n'))
        .filter((line) => line.trim())
        .map((line) => {
          const [type, kind, name, revision, complete = ''] = line.trim().split(/\s+/);
          return { type, kind, name, revision: Number(revision), complete };
        })
        .sort((a, b) => a.revision - b.revision);
    },
  };
}

/** A pod's containers ended with `exitCode`, as kwok writes a pod's status (`reason` Completed or Error). */
function terminatedStatus(exitCode: number): string {
  return [
    '{{ $now := Now }}',
    'containerStatuses:',
    '{{ range $index, $item := .spec.containers }}',
    '- image: {{ $item.image | Quote }}',
    '  name: {{ $item.name | Quote }}',
    '  ready: false',
    '  restartCount: 0',
    '  started: false',
    '  state:',
    '    terminated:',
    `      exitCode: ${exitCode}`,
    '      finishedAt: {{ $now | Quote }}',
    `      reason: ${exitCode === 0 ? 'Completed' : 'Error'}`,
    '      startedAt: {{ $now | Quote }}',
    '{{ end }}',
    `phase: ${exitCode === 0 ? 'Succeeded' : 'Failed'}`,
  ].join('\n');
}

/**
 * A Stage beside kwok's own for the running pods of one bundle (their `gpu-dev/bundle-hash`
 * annotation), chosen over pod-complete by its weight (the cluster must have been created with
 * stages as CRs): they end with `exitCode` after `delayMs`.
 */
async function stagePodsOfBundle(cluster: KwokCluster, name: string, bundleHash: string, exitCode: number, delayMs: number): Promise<void> {
  await cluster.apply({
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'Stage',
    metadata: { name: `${name}-${bundleHash.slice(0, 12)}` },
    spec: {
      resourceRef: { apiGroup: 'v1', kind: 'Pod' },
      selector: {
        matchExpressions: [
          { key: '.metadata.annotations["gpu-dev/bundle-hash"]', operator: 'In', values: [bundleHash] },
          { key: '.metadata.deletionTimestamp', operator: 'DoesNotExist' },
          { key: '.status.phase', operator: 'In', values: ['Running'] },
        ],
      },
      weight: 10000,
      ...(delayMs > 0 ? { delay: { durationMilliseconds: delayMs } } : {}),
      next: { statusTemplate: terminatedStatus(exitCode) },
    },
  });
}

/** Ends failPodsOfBundle: the bundle's next pods complete, as after a fix outside the files. */
export async function stopFailingPodsOfBundle(cluster: KwokCluster, bundleHash: string): Promise<void> {
  await cluster.kubectl(['delete', 'stages.kwok.x-k8s.io', `fail-bundle-${bundleHash.slice(0, 12)}`, '--wait=true']);
}

/** Makes kwok fail every pod of one bundle with `exitCode`, as the runner would exit on that bundle. */
export function failPodsOfBundle(cluster: KwokCluster, bundleHash: string, exitCode: number): Promise<void> {
  return stagePodsOfBundle(cluster, 'fail-bundle', bundleHash, exitCode, 0);
}

/** Holds the migration pods of one bundle Running for `ms`, then completes them: a migration that takes that long. */
export function holdPodsOfBundle(cluster: KwokCluster, bundleHash: string, ms: number): Promise<void> {
  return stagePodsOfBundle(cluster, 'hold-bundle', bundleHash, 0, ms);
}
