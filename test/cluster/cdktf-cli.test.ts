import { runCommand, describeFailure } from '../../harness/command';
import { KwokCluster } from '../../harness/kwok-cluster';
import { Project } from '../../harness/project';
import { describeWithToolchain, toolchain } from '../../harness/suite';
import { migrationJobs } from '../../harness/stack-objects';

/**
 * The README's other way to deploy: the cdktf CLI, fetched by npx (it is no dependency of the
 * project), with OpenTofu as its Terraform (TERRAFORM_BINARY_NAME) and the offline provider mirror.
 */
const NAMESPACE = 'gpu-controlplane';
const CDKTF = ['-y', 'cdktf-cli@0.21.0'];

describeWithToolchain('npx cdktf-cli@0.21.0 deploy of the stack', () => {
  let cluster: KwokCluster;
  let project: Project;

  beforeAll(async () => {
    cluster = await KwokCluster.create(toolchain(), 'gpu-dev-cdktf');
    await cluster.createNamespaceAndSecret(NAMESPACE, { POSTGRES_USER: 'gpudev', POSTGRES_PASSWORD: 'not-used-on-kwok', POSTGRES_DB: 'gpudev' });
    project = Project.create(toolchain(), cluster.kubeconfig);
  });
  afterAll(async () => {
    await cluster?.delete();
    project?.remove();
  });

  const cdktf = (args: string[]) =>
    runCommand('npx', [...CDKTF, ...args], {
      cwd: project.root,
      env: project.env({ TERRAFORM_BINARY_NAME: 'tofu', CI: '1', FORCE_COLOR: '0' }),
      timeoutMs: 600_000,
    });

  describe('when deployed into a fresh cluster', () => {
    let deployed: Awaited<ReturnType<typeof cdktf>>;
    beforeAll(async () => {
      deployed = await cdktf(['deploy', 'gpu-dev', '--auto-approve', '--skip-provider-lock']);
    });

    it('then the deploy exits 0', () => {
      if (deployed.code !== 0) throw new Error(describeFailure('npx', ['cdktf', 'deploy'], deployed));
    });

    it('then the migration Job completes', async () => {
      const jobs = await migrationJobs(cluster, NAMESPACE);
      expect(jobs).toHaveLength(1);
      expect(jobs[0].status.conditions.find((c: any) => c.type === 'Complete')?.status).toBe('True');
    });

    it('then the API rolls out', async () => {
      expect((await cluster.kubectlJson(['get', 'deployment', 'gpu-dev-api', '-n', NAMESPACE])).status.availableReplicas).toBe(2);
    });

    describe('when cdktf diff runs after it', () => {
      let diff: Awaited<ReturnType<typeof cdktf>>;
      beforeAll(async () => {
        diff = await cdktf(['diff', 'gpu-dev', '--skip-provider-lock']);
      });

      it('then it shows no change', () => {
        if (diff.code !== 0) throw new Error(describeFailure('npx', ['cdktf', 'diff'], diff));
        expect(diff.stdout).toMatch(/No changes\. Your infrastructure matches the configuration\./);
      });
    });
  });
});
