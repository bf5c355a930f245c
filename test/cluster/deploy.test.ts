import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBundle, sha256Hex } from '../../src/kernel/bundle';
import { ExitCode } from '../../src/kernel/exit-codes';
import { KwokCluster } from '../../harness/kwok-cluster';
import { Project } from '../../harness/project';
import { describeWithToolchain, toolchain } from '../../harness/suite';
import { failPodsOfBundle, jobOf, migrationJobs, startWatch, stopFailingPodsOfBundle, summaryValue, type Watch } from '../../harness/stack-objects';
import { TEMPLATE_SQL } from '../support/stack';

/**
 * The README's deploy, as a user runs it (npm run synth; tofu init, plan, apply, destroy in the
 * stack folder), by OpenTofu and the real hashicorp/kubernetes provider, against a real API server,
 * controller manager and scheduler (kwok nodes: Job pods complete, others become Ready; a failing
 * migration is a kwok Stage that fails the pods of one bundle, as the runner would).
 */
const NAMESPACE = 'gpu-controlplane';
const SETTINGS = {
  GPU_DEV_MIGRATION_ACTIVE_DEADLINE: '60s',
  GPU_DEV_MIGRATION_TIMEOUT: '120s',
};

describeWithToolchain('tofu apply of the synthesized stack, external database mode', () => {
  let cluster: KwokCluster;
  let project: Project;
  let firstHash: string;
  let fixtureHash: string;

  beforeAll(async () => {
    cluster = await KwokCluster.create(toolchain(), 'gpu-dev-deploy', { stages: true });
    await cluster.createNamespaceAndSecret(NAMESPACE, { POSTGRES_USER: 'gpudev', POSTGRES_PASSWORD: 'not-used-on-kwok', POSTGRES_DB: 'gpudev' });
    project = Project.create(toolchain(), cluster.kubeconfig, { settings: SETTINGS });
  });
  afterAll(async () => {
    await cluster?.delete();
    project?.remove();
  });

  describe('when applied the first time', () => {
    let applied: Awaited<ReturnType<Project['tofu']>>;
    let events: Awaited<ReturnType<Watch['stop']>>;
    beforeAll(async () => {
      firstHash = summaryValue(await project.synth(), 'bundle');
      await project.mustTofu(['init']);
      const watch: Watch = startWatch(cluster, NAMESPACE);
      applied = await project.mustTofu(['apply', '-auto-approve']);
      events = await watch.stop();
    });

    it('then it adds the six objects of the stack', () => {
      expect(applied.stdout).toMatch(/Apply complete! Resources: 6 added, 0 changed, 0 destroyed\./);
    });

    it('then the state is under 100 KB', () => {
      // Every plan and apply reads and writes it whole (test/stack/size-budget.test.ts holds the configuration's).
      expect(statSync(join(project.root, 'terraform.gpu-dev.tfstate')).size).toBeLessThan(100_000);
    });

    it('then the ConfigMaps hold the files byte for byte, and the deploy owner names the stack and its state', async () => {
      const configMaps = await cluster.kubectlJson(['get', 'configmaps', '-n', NAMESPACE]);
      const data = (name: string) => configMaps.items.find((cm: any) => cm.metadata.name === name)?.data as Record<string, string>;
      const file = (folder: string, name: string) => readFileSync(join(project.root, 'database', folder, name), 'utf8');
      for (const folder of ['schema', 'fixtures'] as const) {
        const stored = data(`database-${folder}-${firstHash.slice(0, 12)}`);
        expect(Object.keys(stored).sort()).toEqual(
          readBundle({ schemaDir: join(project.root, 'database', 'schema'), fixturesDir: join(project.root, 'database', 'fixtures'), runnerDigest: '' })
            .files.filter((f) => f.folder === folder)
            .map((f) => f.name)
            .sort(),
        );
        for (const [name, text] of Object.entries(stored)) expect(text).toBe(file(folder, name));
      }
      expect(configMaps.items.map((cm: any) => cm.metadata.name).sort()).toEqual([
        `database-fixtures-${firstHash.slice(0, 12)}`,
        `database-schema-${firstHash.slice(0, 12)}`,
        'gpu-dev-deploy-owner',
        'kube-root-ca.crt',
      ]);
      expect(data('gpu-dev-deploy-owner')).toEqual({ stack: 'gpu-dev', state: 'terraform.gpu-dev.tfstate', identity: expect.stringMatching(/^[0-9a-f]{16}$/) });
    });

    it("then the Job of the bundle completes, running the product image's runner of this build", async () => {
      const job = await jobOf(cluster, NAMESPACE, `db-migration-${firstHash.slice(0, 12)}`);
      expect(job.status.conditions.find((c: any) => c.type === 'Complete')?.status).toBe('True');
      expect(job.metadata.annotations['gpu-dev/bundle-hash']).toBe(firstHash);
      // The runner is the product image's; the Job names its build.
      const [container] = job.spec.template.spec.containers;
      expect(container.image).toBe('gpu-dev-api:0.1.0');
      expect(container.env).toContainEqual({ name: 'MIGRATION_RUNNER_DIGEST', value: sha256Hex(project.runnerBytes()) });
    });

    it("then the Deployment is created only after the Job's completion", async () => {
      const job = await jobOf(cluster, NAMESPACE, `db-migration-${firstHash.slice(0, 12)}`);
      // etcd committed the Job's completion before the Deployment's creation; the timestamps agree.
      const completed = events.findIndex((e) => e.kind === 'Job' && e.complete === 'True');
      const deploymentAdded = events.findIndex((e) => e.kind === 'Deployment' && e.type === 'ADDED');
      expect(completed).toBeGreaterThanOrEqual(0);
      expect(deploymentAdded).toBeGreaterThan(completed);
      const deployment = await cluster.kubectlJson(['get', 'deployment', 'gpu-dev-api', '-n', NAMESPACE]);
      expect(Date.parse(deployment.metadata.creationTimestamp)).toBeGreaterThanOrEqual(Date.parse(job.status.completionTime));
    });

    it('then the API runs the bundle with two available replicas behind its Service', async () => {
      const deployment = await cluster.kubectlJson(['get', 'deployment', 'gpu-dev-api', '-n', NAMESPACE]);
      expect(deployment.spec.template.metadata.annotations['gpu-dev/bundle-hash']).toBe(firstHash);
      expect(deployment.status.availableReplicas).toBe(2);
      const service = await cluster.kubectlJson(['get', 'service', 'gpu-dev-api', '-n', NAMESPACE]);
      expect(service.spec.ports).toEqual([expect.objectContaining({ name: 'http', port: 8000, targetPort: 'http' })]);
    });
  });

  it('when planned again right after apply and once the controllers stamped their labels, then there is nothing to change', async () => {
    expect((await project.plan()).code).toBe(0);
    const job = await jobOf(cluster, NAMESPACE, `db-migration-${firstHash.slice(0, 12)}`);
    // The labels the Job controller stamps, which the provider must not count as a change.
    expect(job.spec.template.metadata.labels['batch.kubernetes.io/controller-uid']).toBe(job.metadata.uid);
    expect(job.spec.template.metadata.labels['batch.kubernetes.io/job-name']).toBe(job.metadata.name);
    const deployment = await cluster.kubectlJson(['get', 'deployment', 'gpu-dev-api', '-n', NAMESPACE]);
    expect(deployment.metadata.annotations['deployment.kubernetes.io/revision']).toBe('1');
    expect(deployment.status.observedGeneration).toBe(deployment.metadata.generation);
    const again = await project.plan();
    expect({ code: again.code, changes: again.changes }).toEqual({ code: 0, changes: [] });
  });

  describe('when a fixture is edited', () => {
    let plan: Awaited<ReturnType<Project['plan']>>;
    beforeAll(async () => {
      const fixture = readFileSync(join(project.root, 'database', 'fixtures', '001_initial_gpu_types.sql'), 'utf8');
      project.writeSql('fixtures', '001_initial_gpu_types.sql', `${fixture}-- reviewed 2026-12-02\n`);
      fixtureHash = summaryValue(await project.synth(), 'bundle');
      plan = await project.plan();
    });

    it('then the plan replaces the Job and its ConfigMaps and changes the API annotation, nothing else', () => {
      expect(plan.code).toBe(2);
      const [before, after] = [firstHash.slice(0, 12), fixtureHash.slice(0, 12)];
      // One name and address per bundle (constructs/database-migration.ts): the old ones are deleted, the new ones created.
      expect(plan.changes.map((c) => [c.address.replace(/_[0-9A-F]{8}$/, ''), c.actions.join('+')]).sort()).toEqual(
        [
          ['kubernetes_deployment_v1.api_deployment', 'update'],
          ...[before, after].flatMap((h) => [
            [`kubernetes_config_map_v1.migration_database-fixtures-${h}`, h === before ? 'delete' : 'create'],
            [`kubernetes_config_map_v1.migration_database-schema-${h}`, h === before ? 'delete' : 'create'],
            [`kubernetes_job_v1.migration_job-${h}`, h === before ? 'delete' : 'create'],
          ]),
        ].sort(),
      );
    });

    describe('when that plan is applied', () => {
      beforeAll(async () => {
        await project.mustTofu(['apply', '-auto-approve']);
      });

      it("then one migration Job is left, the new bundle's", async () => {
        expect((await migrationJobs(cluster, NAMESPACE)).map((j: any) => j.metadata.name)).toEqual([`db-migration-${fixtureHash.slice(0, 12)}`]);
      });

      it("then only the new bundle's ConfigMaps are left", async () => {
        const after = fixtureHash.slice(0, 12);
        const configMaps = await cluster.kubectlJson(['get', 'configmaps', '-n', NAMESPACE, '-l', 'app=database-migration']);
        expect(configMaps.items.map((cm: any) => cm.metadata.name).sort()).toEqual([`database-fixtures-${after}`, `database-schema-${after}`]);
      });

      it('then the API annotation names the new bundle', async () => {
        const deployment = await cluster.kubectlJson(['get', 'deployment', 'gpu-dev-api', '-n', NAMESPACE]);
        expect(deployment.spec.template.metadata.annotations['gpu-dev/bundle-hash']).toBe(fixtureHash);
      });
    });
  });

  it('when SQL holds ${x}, %{ if } and $${y}, then the cluster stores it byte for byte, and the bundle hash of what the cluster stores names the Job', async () => {
    project.writeSql('schema', '006_templates.sql', TEMPLATE_SQL);
    const hash = summaryValue(await project.synth(), 'bundle');
    await project.mustTofu(['apply', '-auto-approve']);
    const configMaps = await cluster.kubectlJson(['get', 'configmaps', '-n', NAMESPACE, '-l', 'app=database-migration']);
    const stored = mkdtempSync(join(tmpdir(), 'gpu-dev-stored-'));
    for (const cm of configMaps.items) {
      const folder = cm.metadata.name.replace(/^database-/, '').replace(/-[0-9a-f]{12}(-\d+)?$/, '');
      mkdirSync(join(stored, folder), { recursive: true });
      for (const [name, text] of Object.entries<string>(cm.data)) writeFileSync(join(stored, folder, name), text);
    }
    expect(readFileSync(join(stored, 'schema', '006_templates.sql'), 'utf8')).toBe(TEMPLATE_SQL);
    // The runner's build and image as the Job in the cluster names them.
    const [job] = await migrationJobs(cluster, NAMESPACE);
    const [container] = job.spec.template.spec.containers;
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value]));
    expect(env.MIGRATION_RUNNER_IMAGE).toBe(container.image);
    const fromCluster = readBundle({
      schemaDir: join(stored, 'schema'),
      fixturesDir: join(stored, 'fixtures'),
      runnerDigest: env.MIGRATION_RUNNER_DIGEST,
      runnerImage: container.image,
    });
    expect(fromCluster.hash).toBe(hash);
    expect((await migrationJobs(cluster, NAMESPACE)).map((j: any) => j.metadata.name)).toEqual([`db-migration-${fromCluster.hash.slice(0, 12)}`]);
  });

  describe('when the migration fails with a permanent error', () => {
    let before: any;
    let jobName: string;
    let failed: Awaited<ReturnType<Project['tofu']>>;
    beforeAll(async () => {
      before = await cluster.kubectlJson(['get', 'deployment', 'gpu-dev-api', '-n', NAMESPACE]);
      project.writeSql('schema', '007_broken.sql', 'SELECT count(*) FROM table_that_does_not_exist;\n');
      const broken = summaryValue(await project.synth(), 'bundle');
      jobName = `db-migration-${broken.slice(0, 12)}`;
      await failPodsOfBundle(cluster, broken, ExitCode.sqlPermanent);
      failed = await project.tofu(['apply', '-auto-approve']);
    });

    it('then apply exits 1 within the bound', () => {
      expect(failed.code).toBe(1);
      expect(failed.ms).toBeLessThan(120_000);
    });

    it('then its error names the failed Job', () => {
      expect(failed.stderr).toContain(`job: ${NAMESPACE}/${jobName} is in failed state`);
    });

    it('then the Job failed by its pod failure policy', async () => {
      const job = await jobOf(cluster, NAMESPACE, jobName);
      expect(job.status.conditions.find((c: any) => c.type === 'Failed')).toMatchObject({ status: 'True', reason: 'PodFailurePolicy' });
    });

    it("then its one pod is kept, with the permanent error's exit code", async () => {
      const pods = await cluster.kubectlJson(['get', 'pods', '-n', NAMESPACE, '-l', `job-name=${jobName}`]);
      expect(pods.items).toHaveLength(1);
      expect(pods.items[0].status.containerStatuses[0].state.terminated.exitCode).toBe(ExitCode.sqlPermanent);
    });

    it('then the API keeps its template', async () => {
      const after = await cluster.kubectlJson(['get', 'deployment', 'gpu-dev-api', '-n', NAMESPACE]);
      expect(after.spec.template).toEqual(before.spec.template);
      expect(after.metadata.generation).toBe(before.metadata.generation);
    });

    describe('when the file is fixed and applied again', () => {
      let fixed: string;
      beforeAll(async () => {
        project.removeSql('schema', '007_broken.sql');
        fixed = summaryValue(await project.synth(), 'bundle');
        await project.mustTofu(['apply', '-auto-approve']);
      });

      it("then one migration Job is left, the fixed bundle's", async () => {
        expect((await migrationJobs(cluster, NAMESPACE)).map((j: any) => j.metadata.name)).toEqual([`db-migration-${fixed.slice(0, 12)}`]);
      });

      it('then the next plan has nothing to change', async () => {
        expect((await project.plan()).code).toBe(0);
      });
    });
  });

  describe('when a migration failed for a cause outside the files', () => {
    let hash: string;
    let jobName: string;
    let failed: Awaited<ReturnType<Project['tofu']>>;
    beforeAll(async () => {
      project.writeSql('schema', '007_fixed_outside.sql', 'SELECT 7;\n');
      hash = summaryValue(await project.synth(), 'bundle');
      jobName = `db-migration-${hash.slice(0, 12)}`;
      await failPodsOfBundle(cluster, hash, ExitCode.sqlPermanent);
      failed = await project.tofu(['apply', '-auto-approve']);
    });
    // Back to the checkout before this case.
    afterAll(async () => {
      project.removeSql('schema', '007_fixed_outside.sql');
      await project.synth();
      await project.mustTofu(['apply', '-auto-approve']);
    });

    it('then apply exits 1', () => {
      expect(failed.code).toBe(1);
    });

    describe('when that is fixed and the same deploy runs again', () => {
      let again: Awaited<ReturnType<Project['tofu']>>;
      beforeAll(async () => {
        // Say, a row fixed by hand: the bundle is the same, so is the Job's name.
        await stopFailingPodsOfBundle(cluster, hash);
        again = await project.tofu(['apply', '-auto-approve']);
      });

      it('then it succeeds', () => {
        expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 0, stderr: '' });
      });

      it('then it replaces the failed Job', () => {
        expect(again.stdout).toMatch(/Resources: 1 added, \d+ changed, 1 destroyed\./);
      });

      it('then one Job is left, under the same name, complete', async () => {
        const jobs = await migrationJobs(cluster, NAMESPACE);
        expect(jobs.map((j: any) => j.metadata.name)).toEqual([jobName]);
        expect(jobs[0].status.conditions.find((c: any) => c.type === 'Complete')?.status).toBe('True');
      });
    });
  });

  it('when destroyed, then no object of the stack is left in the namespace', async () => {
    await project.mustTofu(['destroy', '-auto-approve']);
    const left = await cluster.kubectlJson(['get', 'configmaps,jobs,deployments,replicasets,services,pods', '-n', NAMESPACE]);
    expect(left.items.map((o: any) => `${o.kind}/${o.metadata.name}`)).toEqual(['ConfigMap/kube-root-ca.crt']);
  });
});
