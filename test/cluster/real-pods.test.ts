import { Client } from 'pg';
import { ExitCode } from '../../src/kernel/exit-codes';
import { KwokCluster } from '../../harness/kwok-cluster';
import type { RealNode } from '../../harness/node';
import type { NodeDatabase } from '../../harness/node-database';
import { Project } from '../../harness/project';
import { migrationJobs, summaryValue } from '../../harness/stack-objects';
import { startStackNode, type StackNode } from '../../harness/stack-node';
import { describeWithNode, toolchain } from '../../harness/suite';

/**
 * The path a user relies on, with pods that really run on a real kubelet: tofu apply → the Job's
 * pod mounts the ConfigMaps as the kubelet lays them out → the runner applies the SQL to a real
 * PostgreSQL → the Job completes → the Deployment → the API checks the schema and its readiness
 * probe passes → kubectl logs and the termination message show what happened. The stack's
 * default settings, except where the database is; namespaces enforce the restricted Pod Security
 * Standard.
 */
const TABLES = ['api_keys', 'api_users', 'disks', 'gpu_types', 'reservations'];

describeWithNode('the stack on a real node: the migration Job and the API run for real', () => {
  let cluster: KwokCluster;
  let stackNode: StackNode;
  let node: RealNode;
  let database: NodeDatabase;
  const projects: Project[] = [];

  /** A namespace as a platform has it: the restricted Pod Security Standard enforced, the credentials Secret in place. */
  async function restrictedNamespace(name: string, secret: Readonly<Record<string, string>> = database.secret): Promise<void> {
    await cluster.apply({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' } },
    });
    await cluster.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'postgres-credentials', namespace: name }, stringData: secret });
  }

  function project(namespace: string, settings: Record<string, string> = {}): Project {
    const created = Project.create(toolchain(), cluster.kubeconfig, {
      settings: { GPU_DEV_NAMESPACE: namespace, GPU_DEV_DATABASE_HOST: database.host, GPU_DEV_DATABASE_PORT: String(database.port), ...settings },
    });
    projects.push(created);
    return created;
  }

  async function query<T = any>(sql: string, db = database.database): Promise<T[]> {
    const client = new Client({ connectionString: database.url(db) });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  }

  async function tables(db = database.database): Promise<string[]> {
    return (
      await query<{ tablename: string }>(
        `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'schema_migration%' ORDER BY 1`,
        db,
      )
    ).map((r) => r.tablename);
  }

  beforeAll(async () => {
    cluster = await KwokCluster.create(toolchain(), 'gpu-dev-pods', { realNodes: true });
    stackNode = await startStackNode(cluster);
    ({ node, database } = stackNode);
  });
  afterAll(async () => {
    await stackNode?.stop();
    await cluster?.delete();
    for (const p of projects) p.remove();
  });

  describe('one deploy, then a broken file', () => {
    const NAMESPACE = 'gpu-controlplane';
    let deploy: Project;
    let hash: string;

    beforeAll(async () => {
      await restrictedNamespace(NAMESPACE);
      deploy = project(NAMESPACE);
    });

    it("when a pod breaks the restricted Pod Security Standard, then the namespace refuses it (what the stack's pods are admitted under)", async () => {
      const privileged = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'privileged', namespace: NAMESPACE },
        spec: { containers: [{ name: 'c', image: 'node:20-bookworm-slim', securityContext: { privileged: true } }] },
      };
      await expect(cluster.apply(privileged)).rejects.toThrow(/violates PodSecurity "restricted:latest"/);
    });

    describe('when applied', () => {
      let synth: string;
      let jobName: string;
      beforeAll(async () => {
        synth = await deploy.synth();
        hash = summaryValue(synth, 'bundle');
        jobName = summaryValue(synth, 'job');
        await deploy.mustTofu(['init']);
        await deploy.mustTofu(['apply', '-auto-approve'], 600_000);
      });

      it('then the database has the schema', async () => {
        expect(await tables()).toEqual(TABLES);
      });

      it('then it has the ten GPU types', async () => {
        expect(await query('SELECT count(*)::int AS n FROM gpu_types')).toEqual([{ n: 10 }]);
      });

      it('then the history names the bundle and the Job', async () => {
        expect(await query('SELECT bundle_hash, applied_by FROM schema_migrations ORDER BY run_id')).toEqual([{ bundle_hash: hash, applied_by: jobName }]);
      });

      it('then the log has a line per file and names the bundle', async () => {
        const log = await cluster.kubectl(['logs', '-n', NAMESPACE, '-l', 'app=database-migration', '--tail=-1']);
        for (const file of synth
          .split('\n')
          .filter((l) => /(schema|fixtures)\/\d{3}_/.test(l))
          .map((l) => l.trim().split(/\s+/).pop() as string)) {
          expect(log.split('\n').filter((line) => line.includes(file))).toHaveLength(1);
        }
        expect(log).toContain(`bundle ${hash}`);
      });

      it('then the migration pod ran on the real node and completed, its termination message saying so', async () => {
        const [pod] = (await cluster.kubectlJson(['get', 'pods', '-n', NAMESPACE, '-l', 'app=database-migration'])).items;
        expect(pod.spec.nodeName).toBe(node.name);
        // Within its memory limit: it completed, not OOMKilled.
        expect(pod.status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
        expect(pod.status.containerStatuses[0].state.terminated.message).toBe(`exit 0 (ok): apply: applied bundle ${hash}\nwhat to do: nothing to do\n`);
      });

      it('then both API pods are Ready, never restarted', async () => {
        const api = await cluster.kubectlJson(['get', 'pods', '-n', NAMESPACE, '-l', 'app=gpu-dev-api']);
        expect(api.items).toHaveLength(2);
        for (const p of api.items) {
          expect(p.status.conditions.find((c: any) => c.type === 'Ready').status).toBe('True');
          expect(p.status.containerStatuses[0].restartCount).toBe(0);
        }
      });

      it('then the API answers through its pod address', async () => {
        const api = await cluster.kubectlJson(['get', 'pods', '-n', NAMESPACE, '-l', 'app=gpu-dev-api']);
        const key = (
          await cluster.kubectl(['exec', '-n', NAMESPACE, 'deploy/gpu-dev-api', '--', 'node', 'dist/gpu-dev-api-admin.js', 'create-user', 'alice'])
        ).trim();
        const answer = await fetch(`http://${api.items[0].status.podIP}:8000/v1/gpu/availability`, {
          headers: { Authorization: `Bearer ${key}` },
          signal: AbortSignal.timeout(10_000),
        });
        expect(answer.status).toBe(200);
        const { availability } = (await answer.json()) as { availability: Record<string, { total: number }> };
        expect(Object.keys(availability)).toHaveLength(10);
        expect(availability.h100.total).toBe(16);
      });
    });

    describe('when a new file fails on the database', () => {
      let before: unknown[];
      let jobName: string;
      let failed: Awaited<ReturnType<Project['tofu']>>;
      let pods: any[];
      const where = 'schema/006_broken.sql line 2, column 22: relation "table_that_does_not_exist" does not exist (SQLSTATE 42P01)';
      beforeAll(async () => {
        before = await query('SELECT count(*)::int AS runs FROM schema_migrations');
        deploy.writeSql('schema', '006_broken.sql', 'ALTER TABLE reservations ADD COLUMN priority INTEGER;\nSELECT count(*) FROM table_that_does_not_exist;\n');
        const broken = summaryValue(await deploy.synth(), 'bundle');
        jobName = `db-migration-${broken.slice(0, 12)}`;
        failed = await deploy.tofu(['apply', '-auto-approve'], 600_000);
        pods = (await cluster.kubectlJson(['get', 'pods', '-n', NAMESPACE, '-l', `job-name=${jobName}`])).items;
      });
      afterAll(() => deploy.removeSql('schema', '006_broken.sql'));

      it('then apply exits 1', () => {
        expect(failed.code).toBe(1);
      });

      it('then its error names the failed Job', () => {
        expect(failed.stderr).toContain(`job: ${NAMESPACE}/${jobName} is in failed state`);
      });

      it("then one pod is kept, with the permanent error's exit code", () => {
        expect(pods).toHaveLength(1);
        expect(pods[0].status.containerStatuses[0].state.terminated.exitCode).toBe(ExitCode.sqlPermanent);
      });

      it('then its log names file, line, column and SQLSTATE', async () => {
        expect(await cluster.kubectl(['logs', '-n', NAMESPACE, pods[0].metadata.name])).toContain(where);
      });

      it('then its termination message names them and what to do, and kubectl describe shows it', async () => {
        const terminated = pods[0].status.containerStatuses[0].state.terminated;
        // Where on-call looks first: the pod's state, no log command needed.
        expect(terminated.message.split('\n')[0]).toBe(`exit 13 (sqlPermanent): ${where}`);
        expect(terminated.message).toContain('what to do: fix the file: a retry would fail the same way');
        expect(await cluster.kubectl(['describe', 'pod', '-n', NAMESPACE, pods[0].metadata.name])).toContain(`exit 13 (sqlPermanent): ${where}`);
      });

      it('then the database is unchanged: no run recorded, no column added', async () => {
        expect(await query('SELECT count(*)::int AS runs FROM schema_migrations')).toEqual(before);
        expect(await query(`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'reservations' AND column_name = 'priority'`)).toEqual(
          [{ n: 0 }],
        );
      });

      it('then the API stays on the deployed bundle with two available replicas', async () => {
        const apiAfter = await cluster.kubectlJson(['get', 'deployment', 'gpu-dev-api', '-n', NAMESPACE]);
        expect(apiAfter.spec.template.metadata.annotations['gpu-dev/bundle-hash']).toBe(hash);
        expect(apiAfter.status.availableReplicas).toBe(2);
      });

      it('then the API still answers', async () => {
        const [apiPod] = (await cluster.kubectlJson(['get', 'pods', '-n', NAMESPACE, '-l', 'app=gpu-dev-api'])).items;
        expect((await fetch(`http://${apiPod.status.podIP}:8000/ready`, { signal: AbortSignal.timeout(10_000) })).status).toBe(200);
      });
    });
  });

  describe('when the API meets an empty database (no migration Job)', () => {
    const NAMESPACE = 'gpu-empty';
    let applied: Awaited<ReturnType<Project['tofu']>>;
    let pod: any;
    let log: string;
    beforeAll(async () => {
      await database.createDatabase('empty_for_api');
      await restrictedNamespace(NAMESPACE, { ...database.secret, POSTGRES_DB: 'empty_for_api' });
      const lone = project(NAMESPACE, {
        GPU_DEV_MIGRATION_JOB: 'false',
        GPU_DEV_API_PROGRESS_DEADLINE: '20s',
        GPU_DEV_API_ROLLOUT_TIMEOUT: '60s',
        GPU_DEV_STATE_FILE: 'terraform.empty.tfstate',
      });
      await lone.synth();
      await lone.mustTofu(['init']);
      applied = await lone.tofu(['apply', '-auto-approve'], 300_000);
      [pod] = (await cluster.kubectlJson(['get', 'pods', '-n', NAMESPACE, '-l', 'app=gpu-dev-api'])).items;
      log = await cluster
        .kubectl(['logs', '-n', NAMESPACE, pod.metadata.name, '--previous'])
        .catch(() => cluster.kubectl(['logs', '-n', NAMESPACE, pod.metadata.name]));
    });

    it('then apply fails within the rollout bound', () => {
      expect(applied.code).toBe(1);
      expect(applied.ms).toBeLessThan(90_000);
    });

    it('then the API is not Ready', () => {
      expect(pod.status.conditions.find((c: any) => c.type === 'Ready').status).toBe('False');
    });

    it('then its log names every missing table', () => {
      expect(log).toContain(`lacks what the API needs:\n  missing tables: ${['api_users', 'api_keys', 'reservations', 'disks', 'gpu_types'].join(', ')}`);
    });

    it('then its log names the kubectl commands for its namespace', () => {
      expect(log).toContain(`kubectl get jobs -n ${NAMESPACE} | grep db-migration`);
      expect(log).toContain(`kubectl logs -n ${NAMESPACE} -l app=database-migration`);
    });

    it('then its log ends with exit code 9', () => {
      expect(log).toMatch(/exit code 9\n?$/);
    });
  });

  describe('when two bundles are applied at once from two states into two namespaces on one database', () => {
    const hashes: string[] = [];
    let results: Awaited<ReturnType<Project['tofu']>>[];
    /** Each namespace's migration Job, its pods and their log, read once both applies have ended. */
    const ran: { job: any; pods: any[]; log: string }[] = [];
    beforeAll(async () => {
      await database.createDatabase('raced');
      // A slow file in both bundles, so whichever runner comes second finds the lock held.
      const slow = 'SELECT pg_sleep(4);\n';
      const older = project('gpu-race-a', { GPU_DEV_API_REPLICAS: '0' });
      const newer = project('gpu-race-b', { GPU_DEV_API_REPLICAS: '0' });
      for (const p of [older, newer]) p.writeSql('schema', '006_slow.sql', slow);
      newer.writeSql('schema', '007_more.sql', 'CREATE TABLE IF NOT EXISTS race_marker (id integer PRIMARY KEY);\n');
      for (const [p, ns] of [
        [older, 'gpu-race-a'],
        [newer, 'gpu-race-b'],
      ] as const) {
        await restrictedNamespace(ns, { ...database.secret, POSTGRES_DB: 'raced' });
        hashes.push(summaryValue(await p.synth(), 'bundle'));
        await p.mustTofu(['init']);
      }
      results = await Promise.all([older, newer].map((p) => p.tofu(['apply', '-auto-approve'], 600_000)));
      for (const ns of ['gpu-race-a', 'gpu-race-b']) {
        const [job] = await migrationJobs(cluster, ns);
        const pods = (await cluster.kubectlJson(['get', 'pods', '-n', ns, '-l', 'app=database-migration'])).items;
        ran.push({ job, pods, log: await cluster.kubectl(['logs', '-n', ns, '-l', 'app=database-migration', '--tail=-1']) });
      }
    });

    it('then both Jobs end', () => {
      expect(ran).toHaveLength(2);
      for (const { job } of ran) {
        const ended = job.status.conditions.filter((c: any) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
        expect(ended).toHaveLength(1);
      }
    });

    it("then no pod crashed: each ended with the runner's own verdict", () => {
      expect(ran).toHaveLength(2);
      for (const { pods } of ran) {
        // Each pod ended with the runner's own verdict: done, or (the older bundle after the newer) stale.
        expect(pods.length).toBeGreaterThan(0);
        for (const p of pods) expect([ExitCode.ok, ExitCode.staleBundle]).toContain(p.status.containerStatuses[0].state.terminated.exitCode);
      }
    });

    it('then one waits for the migration lock', () => {
      expect(ran.map((r) => r.log).join('\n')).toMatch(/lock: migration lock held by .*; waiting/);
    });

    it('then the database ends on the newer bundle', async () => {
      const runs = await query<{ bundle_hash: string }>('SELECT bundle_hash FROM schema_migrations ORDER BY run_id', 'raced');
      expect(runs[runs.length - 1].bundle_hash).toBe(hashes[1]);
      expect(await tables('raced')).toEqual([...TABLES, 'race_marker'].sort());
    });

    it("then the newer bundle's apply succeeds", () => {
      // The newer bundle's apply succeeds whatever the order; the older one's only if it went first.
      expect(results[1].code).toBe(0);
    });
  });
});
