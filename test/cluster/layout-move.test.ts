import { sha256Hex } from '../../src/kernel/bundle';
import { KwokCluster } from '../../harness/kwok-cluster';
import { Project } from '../../harness/project';
import { migrationJobs, summaryValue } from '../../harness/stack-objects';
import { describeWithToolchain, toolchain } from '../../harness/suite';

/**
 * A user of the old layout (the runner in a ConfigMap, on a stock Node image) moves to the
 * default one (the runner in the product image) by deploying again, nothing else: one apply
 * removes the runner's ConfigMap, replaces the Job, rolls the API, and the next plan is clean.
 */
const NAMESPACE = 'gpu-controlplane';

describeWithToolchain('moving from the ConfigMap runner to the image runner', () => {
  let cluster: KwokCluster;
  let project: Project;
  let oldHash: string;

  beforeAll(async () => {
    cluster = await KwokCluster.create(toolchain(), 'gpu-dev-layout', { stages: true });
    await cluster.createNamespaceAndSecret(NAMESPACE, { POSTGRES_USER: 'gpudev', POSTGRES_PASSWORD: 'not-used-on-kwok', POSTGRES_DB: 'gpudev' });
    project = Project.create(toolchain(), cluster.kubeconfig, { settings: { GPU_DEV_RUNNER_SOURCE: 'configmap' } });
    oldHash = summaryValue(await project.synth(), 'bundle');
    await project.mustTofu(['init']);
    await project.mustTofu(['apply', '-auto-approve']);
  });
  afterAll(async () => {
    await cluster?.delete();
    project?.remove();
  });

  it('when deployed in the old layout, then the runner is a ConfigMap and the Job runs it on the Node image', async () => {
    const runner = await cluster.kubectlJson(['get', 'configmap', `database-migration-runner-${oldHash.slice(0, 12)}`, '-n', NAMESPACE]);
    expect(Buffer.from(runner.binaryData['gpu-dev-db.js'], 'base64').equals(project.runnerBytes())).toBe(true);
    const [job] = await migrationJobs(cluster, NAMESPACE);
    expect(job.metadata.name).toBe(`db-migration-${oldHash.slice(0, 12)}`);
    expect(job.spec.template.spec.containers[0].image).toBe('node:20-bookworm-slim');
  });

  describe('when the same checkout deploys with the default layout', () => {
    let plan: Awaited<ReturnType<Project['plan']>>;
    let newHash: string;
    let applied: Awaited<ReturnType<Project['tofu']>>;
    beforeAll(async () => {
      delete project.settings.GPU_DEV_RUNNER_SOURCE;
      newHash = summaryValue(await project.synth(), 'bundle');
      plan = await project.plan();
      applied = await project.tofu(['apply', '-auto-approve']);
    });

    it('then the plan deletes the runner ConfigMap, replaces the Job and the SQL ConfigMaps (the image is in the hash) and updates the API, nothing else', () => {
      const [before, after] = [oldHash.slice(0, 12), newHash.slice(0, 12)];
      expect(plan.code).toBe(2);
      expect(plan.changes.map((c) => [c.address.replace(/_[0-9A-F]{8}$/, ''), c.actions.join('+')]).sort()).toEqual(
        [
          [`kubernetes_config_map_v1.migration_database-migration-runner-${before}`, 'delete'],
          [`kubernetes_config_map_v1.migration_database-fixtures-${before}`, 'delete'],
          [`kubernetes_config_map_v1.migration_database-schema-${before}`, 'delete'],
          [`kubernetes_job_v1.migration_job-${before}`, 'delete'],
          [`kubernetes_config_map_v1.migration_database-fixtures-${after}`, 'create'],
          [`kubernetes_config_map_v1.migration_database-schema-${after}`, 'create'],
          [`kubernetes_job_v1.migration_job-${after}`, 'create'],
          ['kubernetes_deployment_v1.api_deployment', 'update'],
        ].sort(),
      );
    });

    it('then the apply succeeds', () => {
      expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' });
    });

    it("then one Job is left, complete, running the product image's runner of this build", async () => {
      const jobs = await migrationJobs(cluster, NAMESPACE);
      expect(jobs.map((j) => j.metadata.name)).toEqual([`db-migration-${newHash.slice(0, 12)}`]);
      expect(jobs[0].status.conditions.find((c: any) => c.type === 'Complete')?.status).toBe('True');
      const [container] = jobs[0].spec.template.spec.containers;
      expect(container.image).toBe('gpu-dev-api:0.1.0');
      expect(container.args[0]).toBe('/app/dist/gpu-dev-db.js');
      expect(container.env).toContainEqual({ name: 'MIGRATION_RUNNER_DIGEST', value: sha256Hex(project.runnerBytes()) });
    });

    it("then the runner ConfigMap and the old bundle's are gone", async () => {
      const names = (await cluster.kubectlJson(['get', 'configmaps', '-n', NAMESPACE])).items.map((cm: any) => cm.metadata.name);
      expect(names.sort()).toEqual([
        `database-fixtures-${newHash.slice(0, 12)}`,
        `database-schema-${newHash.slice(0, 12)}`,
        'gpu-dev-deploy-owner',
        'kube-root-ca.crt',
      ]);
    });

    it('then the next plan has nothing to change', async () => {
      const again = await project.plan();
      expect({ code: again.code, changes: again.changes }).toEqual({ code: 0, changes: [] });
    });
  });
});
