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

export interface WatchEvent {
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
    startCommand(cluster.binDir + '/kubectl', ['get', type, '-n', namespace, '--watch', '--output-watch-events', '-o', `jsonpath=${template}`], {
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

/**
 * Makes kwok fail every pod of one bundle (its `gpu-dev/bundle-hash` annotation) with `exitCode`,
 * as the runner would exit on that bundle: a Stage beside kwok's own, chosen over pod-complete by
 * its weight (the cluster must have been created with stages as CRs).
 */
export async function failPodsOfBundle(cluster: KwokCluster, bundleHash: string, exitCode: number): Promise<void> {
  await cluster.apply({
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'Stage',
    metadata: { name: `fail-bundle-${bundleHash.slice(0, 12)}` },
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
      next: {
        statusTemplate: [
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
          '      reason: Error',
          '      startedAt: {{ $now | Quote }}',
          '{{ end }}',
          'phase: Failed',
        ].join('\n'),
      },
    },
  });
}
