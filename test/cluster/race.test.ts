import { KwokCluster } from '../../harness/kwok-cluster';
import { Project } from '../../harness/project';
import { describeWithToolchain, toolchain } from '../../harness/suite';
import { migrationJobs } from '../../harness/stack-objects';

/**
 * Two checkouts, two state files, one cluster and namespace, applied at the same moment: the
 * deploy-owner ConfigMap, which every other object depends on, lets one through; the other fails
 * naming it, having created nothing.
 */
const NAMESPACE = 'gpu-controlplane';

describeWithToolchain('two applies with two state files racing on one cluster', () => {
  let cluster: KwokCluster;
  const projects: Project[] = [];

  beforeAll(async () => {
    cluster = await KwokCluster.create(toolchain(), 'gpu-dev-race');
    await cluster.createNamespaceAndSecret(NAMESPACE, { POSTGRES_USER: 'gpudev', POSTGRES_PASSWORD: 'not-used-on-kwok', POSTGRES_DB: 'gpudev' });
    for (let i = 0; i < 2; i++) {
      const project = Project.create(toolchain(), cluster.kubeconfig);
      projects.push(project);
      await project.synth();
      await project.mustTofu(['init']);
    }
  });
  afterAll(async () => {
    await cluster?.delete();
    for (const project of projects) project.remove();
  });

  describe('when both apply at once', () => {
    let results: Awaited<ReturnType<Project['tofu']>>[];
    let winner: number;
    let loser: number;
    beforeAll(async () => {
      results = await Promise.all(projects.map((p) => p.tofu(['apply', '-auto-approve'])));
      winner = results.findIndex((r) => r.code === 0);
      loser = results.findIndex((r) => r.code !== 0);
    });

    it('then one deploys and the other fails', () => {
      expect({ winner: winner >= 0, loser: loser >= 0 }).toEqual({ winner: true, loser: true });
    });

    it("then the other's error names the owner ConfigMap", () => {
      expect(results[loser].stderr).toMatch(/configmaps "gpu-dev-deploy-owner" already exists/);
    });

    it("then the other's state holds nothing", async () => {
      expect(await managedObjects(projects[loser])).toEqual([]);
    });

    it("then the winner's state holds the stack's six objects", async () => {
      expect(await managedObjects(projects[winner])).toHaveLength(6);
    });

    it('then the cluster holds one stack: one migration Job', async () => {
      expect(await migrationJobs(cluster, NAMESPACE)).toHaveLength(1);
    });

    it("then the winner's next plan is clean", async () => {
      // The loser changed nothing of its objects.
      expect((await projects[winner].plan()).code).toBe(0);
    });
  });

  it("when the loser applies again, then it still fails on the owner ConfigMap: adoption takes only objects of its own state, never the winner's", async () => {
    const loser = (await managedObjects(projects[0])).length === 0 ? projects[0] : projects[1];
    const again = await loser.tofu(['apply', '-auto-approve']);
    expect({ code: again.code, owner: /configmaps "gpu-dev-deploy-owner" already exists/.test(again.stderr) }).toEqual({ code: 1, owner: true });
    expect(await managedObjects(loser)).toEqual([]);
  });

  /** The state's resources, without the data sources it reads (adoption's lists of objects). */
  async function managedObjects(project: Project): Promise<string[]> {
    const listed = await project.tofu(['state', 'list']);
    return listed.stdout.split('\n').filter((line) => line.trim() && !line.startsWith('data.'));
  }
});
