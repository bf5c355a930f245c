import { describeFailure, runCommand, startCommand, type CommandResult } from '../../harness/command';
import { KwokCluster } from '../../harness/kwok-cluster';
import { Project } from '../../harness/project';
import { describeWithToolchain, toolchain } from '../../harness/suite';
import { holdPodsOfBundle, migrationJobs, summaryValue } from '../../harness/stack-objects';

/**
 * A deploy interrupted at any moment converges on the next one: OpenTofu (and its provider) is
 * killed as a closed laptop or a cancelled CI job kills it (SIGKILL of its process group) or
 * stopped as Ctrl-C stops it (SIGINT), at a chosen moment, then the README's deploy command runs
 * once. Afterwards it has exited 0, a re-plan is clean, exactly one migration Job exists, no
 * object of the stack is outside the state, and the API runs the current bundle. The migration
 * takes a few seconds here (a kwok Stage holds its pod Running), so a kill can land in its wait.
 */
const NAMESPACE = 'gpu-controlplane';
const SETTINGS = { GPU_DEV_MIGRATION_ACTIVE_DEADLINE: '60s', GPU_DEV_MIGRATION_TIMEOUT: '120s' };
const CDKTF = ['-y', 'cdktf-cli@0.21.0'];
/** How long each migration runs in the cluster. */
const MIGRATION_MS = 6000;

interface Moment {
  /** The line of OpenTofu's output after which the signal goes. */
  readonly after: RegExp;
  /** How long after that line. */
  readonly delayMs: number;
  readonly signal: 'SIGKILL' | 'SIGINT';
}

// OpenTofu's progress lines; the cdktf CLI prints them with the stack's name before and the construct path after the address.
const CONFIGMAPS_CREATED = /kubernetes_config_map_v1\.migration_database-schema.*: Creating\.\.\./;
const JOB_CREATED = /kubernetes_job_v1\..*: Creating\.\.\./;
const OLD_JOB_DESTROYED = /kubernetes_job_v1\..*: Destroying\.\.\./;
const DEPLOYMENT_ROLLING = /kubernetes_deployment_v1\..*: (Creating|Modifying)\.\.\./;

describeWithToolchain('a deploy interrupted at any moment converges on the next one', () => {
  let cluster: KwokCluster;
  let project: Project;
  let round = 0;

  beforeAll(async () => {
    cluster = await KwokCluster.create(toolchain(), 'gpu-dev-interrupt', { stages: true });
    await cluster.createNamespaceAndSecret(NAMESPACE, { POSTGRES_USER: 'gpudev', POSTGRES_PASSWORD: 'not-used-on-kwok', POSTGRES_DB: 'gpudev' });
    project = Project.create(toolchain(), cluster.kubeconfig, { settings: SETTINGS });
    await project.synth();
    await project.mustTofu(['init']);
  });
  afterAll(async () => {
    await cluster?.delete();
    project?.remove();
  });

  /** A new bundle (a fixture changed), synthesized, its migration held Running for MIGRATION_MS: its hash. */
  async function nextBundle(): Promise<string> {
    round += 1;
    project.writeSql('fixtures', '002_round.sql', `-- round ${round}\nSELECT ${round};\n`);
    const hash = summaryValue(await project.synth(), 'bundle');
    await holdPodsOfBundle(cluster, hash, MIGRATION_MS);
    return hash;
  }

  /** Runs `command` (a started process), sending `moment.signal` to its group at the moment; whether it was sent. */
  async function interrupt(
    start: (onStdout: (chunk: string) => void) => ReturnType<typeof startCommand>,
    moment: Moment,
  ): Promise<{ sent: boolean; output: string }> {
    let output = '';
    let sent = false;
    const run = start((chunk) => {
      output += chunk;
      if (!sent && moment.after.test(output)) {
        sent = true;
        setTimeout(() => run.signal(moment.signal), moment.delayMs);
      }
    });
    const result = await run.done;
    return { sent, output: output + result.stderr };
  }

  const tofuApply = (moment: Moment) => interrupt((onStdout) => project.startTofu(['apply', '-auto-approve'], onStdout), moment);

  /** The stack's objects in the namespace (the external database's Secret is not the stack's). */
  async function clusterObjects(): Promise<string[]> {
    const kinds = 'configmaps,jobs.batch,deployments.apps,services';
    const list = await cluster.kubectlJson(['get', kinds, '-n', NAMESPACE]);
    return list.items
      .filter((o: any) => !(o.kind === 'ConfigMap' && o.metadata.name === 'kube-root-ca.crt'))
      .map((o: any) => `${o.kind}/${o.metadata.name}`)
      .sort();
  }

  /** The same, as the state records them. */
  async function stateObjects(): Promise<string[]> {
    const shown = JSON.parse((await project.mustTofu(['show', '-json'])).stdout);
    const kinds: Record<string, string> = {
      kubernetes_config_map_v1: 'ConfigMap',
      kubernetes_job_v1: 'Job',
      kubernetes_deployment_v1: 'Deployment',
      kubernetes_service_v1: 'Service',
    };
    return (shown.values?.root_module?.resources ?? [])
      .filter((r: any) => r.mode === 'managed' && kinds[r.type])
      .map((r: any) => `${kinds[r.type]}/${r.values.metadata[0].name}`)
      .sort();
  }

  /** The README's deploy, once (in beforeAll), then one `it` per outcome a converged deploy has. */
  function describeConvergence(title: string, currentHash: () => string, deploy: () => Promise<CommandResult>): void {
    describe(title, () => {
      let applied: CommandResult;
      beforeAll(async () => {
        applied = await deploy();
      });

      it('then it exits 0', () => {
        if (applied.code !== 0) throw new Error(describeFailure('deploy', ['after the interruption'], applied));
      });

      it('then a re-plan is clean', async () => {
        expect((await project.plan()).code).toBe(0);
      });

      it("then one migration Job is left, the current bundle's, complete", async () => {
        const jobs = await migrationJobs(cluster, NAMESPACE);
        expect(jobs.map((j) => j.metadata.name)).toEqual([`db-migration-${currentHash().slice(0, 12)}`]);
        expect(jobs[0].status.conditions.find((c: any) => c.type === 'Complete')?.status).toBe('True');
      });

      it('then no object of the stack is outside the state', async () => {
        expect(await clusterObjects()).toEqual(await stateObjects());
      });

      it('then the API runs the current bundle', async () => {
        const deployment = await cluster.kubectlJson(['get', 'deployment', 'gpu-dev-api', '-n', NAMESPACE]);
        expect({ bundle: deployment.spec.template.metadata.annotations['gpu-dev/bundle-hash'], available: deployment.status.availableReplicas }).toEqual({
          bundle: currentHash(),
          available: 2,
        });
      });
    });
  }

  const cases: [string, Moment][] = [
    ['SIGKILL while the ConfigMaps are created (the first deploy)', { after: CONFIGMAPS_CREATED, delayMs: 0, signal: 'SIGKILL' }],
    ['SIGKILL while the Job is created', { after: JOB_CREATED, delayMs: 0, signal: 'SIGKILL' }],
    ['SIGKILL while the Job is waited for', { after: JOB_CREATED, delayMs: 2500, signal: 'SIGKILL' }],
    ['SIGINT while the Job is waited for', { after: JOB_CREATED, delayMs: 2500, signal: 'SIGINT' }],
    ['SIGKILL while the old Job is destroyed', { after: OLD_JOB_DESTROYED, delayMs: 0, signal: 'SIGKILL' }],
    ['SIGKILL while the Deployment rolls out', { after: DEPLOYMENT_ROLLING, delayMs: 300, signal: 'SIGKILL' }],
    ['SIGINT while the Deployment rolls out', { after: DEPLOYMENT_ROLLING, delayMs: 300, signal: 'SIGINT' }],
  ];

  describe.each(cases)('when tofu apply gets %s', (_, moment) => {
    let hash: string;
    let interrupted: { sent: boolean; output: string };
    beforeAll(async () => {
      hash = await nextBundle();
      interrupted = await tofuApply(moment);
    });

    it('then the signal landed at that moment', () => {
      expect(interrupted.sent).toBe(true);
    });

    describeConvergence(
      'when one more tofu apply runs',
      () => hash,
      () => project.tofu(['apply', '-auto-approve']),
    );
  });

  describe('when cdktf deploy gets SIGKILL while the Job is waited for', () => {
    let hash: string;
    let interrupted: { sent: boolean; output: string };
    const cdktf = (onStdout?: (chunk: string) => void) =>
      startCommand('npx', [...CDKTF, 'deploy', 'gpu-dev', '--auto-approve', '--skip-provider-lock'], {
        cwd: project.root,
        env: project.env({ TERRAFORM_BINARY_NAME: 'tofu', CI: '1', FORCE_COLOR: '0' }),
        timeoutMs: 600_000,
        onStdout,
      });
    beforeAll(async () => {
      hash = await nextBundle();
      interrupted = await interrupt(cdktf, { after: JOB_CREATED, delayMs: 2500, signal: 'SIGKILL' });
    });

    it('then the signal landed at that moment', () => {
      expect(interrupted.sent).toBe(true);
    });

    describeConvergence(
      'when one more cdktf deploy runs',
      () => hash,
      () =>
        runCommand('npx', [...CDKTF, 'deploy', 'gpu-dev', '--auto-approve', '--skip-provider-lock'], {
          cwd: project.root,
          env: project.env({ TERRAFORM_BINARY_NAME: 'tofu', CI: '1', FORCE_COLOR: '0' }),
          timeoutMs: 600_000,
        }),
    );
  });
});
