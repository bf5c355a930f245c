import { KwokCluster } from '../../harness/kwok-cluster';
import { Project } from '../../harness/project';
import { describeWithToolchain, toolchain } from '../../harness/suite';
import { jobOf, summaryValue } from '../../harness/stack-objects';

/**
 * Managed mode: the stack also deploys PostgreSQL (random_password from the real hashicorp/random
 * provider, Secret, init ConfigMap, StatefulSet with a volume, Service) and the Job runs after it.
 * The harness gives the cluster what a real one has for the volume: a PersistentVolume to bind.
 */
const NAMESPACE = 'gpu-controlplane';

describeWithToolchain('tofu apply of the synthesized stack, managed database mode', () => {
  let cluster: KwokCluster;
  let project: Project;

  beforeAll(async () => {
    cluster = await KwokCluster.create(toolchain(), 'gpu-dev-managed');
    await cluster.apply({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: 'gpu-dev-test-volume' },
      spec: {
        capacity: { storage: '10Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Delete',
        hostPath: { path: '/nonexistent/gpu-dev-test-volume' },
      },
    });
    project = Project.create(toolchain(), cluster.kubeconfig, {
      settings: {
        GPU_DEV_DATABASE_MODE: 'managed',
        GPU_DEV_MIGRATION_ACTIVE_DEADLINE: '60s',
        GPU_DEV_MIGRATION_TIMEOUT: '120s',
        GPU_DEV_POSTGRES_TIMEOUT: '120s',
      },
    });
  });
  afterAll(async () => {
    await cluster?.delete();
    project?.remove();
  });

  describe('when applied', () => {
    let synth: string;
    let hash: string;
    let applied: Awaited<ReturnType<Project['tofu']>>;
    beforeAll(async () => {
      synth = await project.synth();
      hash = summaryValue(synth, 'bundle');
      await project.mustTofu(['init']);
      applied = await project.mustTofu(['apply', '-auto-approve']);
    });

    it('then synth names the PostgreSQL image', () => {
      expect(synth).toMatch(/postgres: ghcr\.io\/pgmq\/pg18-pgmq:v1\.10\.0/);
    });

    it('then it adds the twelve objects of the stack', () => {
      expect(applied.stdout).toMatch(/Apply complete! Resources: 12 added, 0 changed, 0 destroyed\./);
    });

    it("then PostgreSQL's claim is bound to the volume", async () => {
      const claim = await cluster.kubectlJson(['get', 'pvc', 'data-postgres-primary-0', '-n', NAMESPACE]);
      expect({ phase: claim.status.phase, volume: claim.spec.volumeName }).toEqual({ phase: 'Bound', volume: 'gpu-dev-test-volume' });
    });

    it('then PostgreSQL is Ready before the Job is created', async () => {
      const pod = await cluster.kubectlJson(['get', 'pod', 'postgres-primary-0', '-n', NAMESPACE]);
      const ready = pod.status.conditions.find((c: any) => c.type === 'Ready');
      expect(ready.status).toBe('True');
      const job = await jobOf(cluster, NAMESPACE, `db-migration-${hash.slice(0, 12)}`);
      expect(Date.parse(job.metadata.creationTimestamp)).toBeGreaterThanOrEqual(Date.parse(ready.lastTransitionTime));
    });

    it('then the Job completes', async () => {
      const job = await jobOf(cluster, NAMESPACE, `db-migration-${hash.slice(0, 12)}`);
      expect(job.status.conditions.find((c: any) => c.type === 'Complete')?.status).toBe('True');
    });

    it('then the generated password is in the Secret, never in what synth wrote', async () => {
      const secret = await cluster.kubectlJson(['get', 'secret', 'postgres-credentials', '-n', NAMESPACE]);
      const password = Buffer.from(secret.data.POSTGRES_PASSWORD, 'base64').toString('utf8');
      expect(password).toMatch(/^[A-Za-z0-9]{32}$/);
      // The generated password is in the state and the Secret, never in what synth wrote.
      expect(await project.readStackFile()).not.toContain(password);
    });

    it('then the API rolls out', async () => {
      expect((await cluster.kubectlJson(['get', 'deployment', 'gpu-dev-api', '-n', NAMESPACE])).status.availableReplicas).toBe(2);
    });

    it('then the next plan has nothing to change', async () => {
      const plan = await project.plan();
      expect({ code: plan.code, changes: plan.changes }).toEqual({ code: 0, changes: [] });
    });
  });

  it('when destroyed, then the namespace the stack created is gone, and with it everything in it', async () => {
    await project.mustTofu(['destroy', '-auto-approve']);
    const namespaces = await cluster.kubectlJson(['get', 'namespaces']);
    expect(namespaces.items.map((n: any) => n.metadata.name)).not.toContain(NAMESPACE);
  });
});
