import 'cdktf/lib/testing/adapters/jest';
import { ConfigMapV1 } from '@cdktf/provider-kubernetes/lib/config-map-v1';
import { DeploymentV1 } from '@cdktf/provider-kubernetes/lib/deployment-v1';
import { JobV1 } from '@cdktf/provider-kubernetes/lib/job-v1';
import { KubernetesProvider } from '@cdktf/provider-kubernetes/lib/provider';
import { ServiceV1 } from '@cdktf/provider-kubernetes/lib/service-v1';
import { StatefulSetV1 } from '@cdktf/provider-kubernetes/lib/stateful-set-v1';
import { Password } from '@cdktf/provider-random/lib/password';
import { RandomProvider } from '@cdktf/provider-random/lib/provider';
import { Testing } from 'cdktf';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/build/repository';
import { Duration } from '../../src/kernel/duration';
import { escapeTemplate } from '../../src/stack/terraform-literals';
import { ApiService } from '../../src/stack/constructs/api-service';
import { DatabaseMigration } from '../../src/stack/constructs/database-migration';
import { ManagedPostgres } from '../../src/stack/constructs/managed-postgres';
import { addressOf, only, runnerBytes, synthStack, testApp } from '../support/stack';

const { objectContaining, arrayContaining, stringMatching } = expect;
const HARDENED_CONTAINER = {
  run_as_non_root: true,
  run_as_user: '1000',
  read_only_root_filesystem: true,
  allow_privilege_escalation: false,
  privileged: false,
  capabilities: { drop: ['ALL'] },
  seccomp_profile: { type: 'RuntimeDefault' },
};
const HARDENED_POD = { run_as_non_root: true, run_as_user: '1000', run_as_group: '1000', fs_group: '1000', seccomp_profile: { type: 'RuntimeDefault' } };
const secretRef = (key: string, name = 'postgres-credentials') => ({ name: key, value_from: { secret_key_ref: { name, key } } });
/** The pod's namespace by the downward API, for the kubectl commands the runner and the API print. */
const POD_NAMESPACE = { name: 'POD_NAMESPACE', value_from: { field_ref: { api_version: 'v1', field_path: 'metadata.namespace' } } };

describe('the stack in external-database mode (the default)', () => {
  const { text, json, stack } = synthStack();
  const hash = stack.migration.bundle.hash;
  const job = only(json, 'kubernetes_job_v1');

  describe('when synthesized', () => {
    const names = (type: string) => Object.values(json.resource[type] ?? {}).map((r: any) => r.metadata.name);
    const jobPod = job.spec.template.spec;
    const [jobContainer] = jobPod.container;
    /** The API Deployment's pod template: its spec and its one container hold at least what is given. */
    const apiPod = (spec: Record<string, unknown>, container: Record<string, unknown>) => ({
      spec: objectContaining({ template: { metadata: expect.anything(), spec: objectContaining({ ...spec, container: [objectContaining(container)] }) } }),
    });

    it('then it has the SQL ConfigMaps, named by the bundle hash, and the owner ConfigMap', () => {
      expect(names('kubernetes_config_map_v1')).toEqual([
        `database-fixtures-${hash.slice(0, 12)}`,
        `database-schema-${hash.slice(0, 12)}`,
        'gpu-dev-deploy-owner',
      ]);
    });

    it('then it has the migration Job, named by the bundle hash', () => {
      expect(names('kubernetes_job_v1')).toEqual([`db-migration-${hash.slice(0, 12)}`]);
    });

    it('then it has the API Deployment and its Service', () => {
      expect(names('kubernetes_deployment_v1')).toEqual(['gpu-dev-api']);
      expect(names('kubernetes_service_v1')).toEqual(['gpu-dev-api']);
    });

    it('then it has nothing of a managed database: no namespace, secret, StatefulSet or password', () => {
      for (const absent of ['kubernetes_namespace_v1', 'kubernetes_secret_v1', 'kubernetes_stateful_set_v1', 'random_password']) {
        expect(json.resource[absent]).toBeUndefined();
      }
    });

    it('then the Kubernetes provider reads ~/.kube/config', () => {
      expect(text).toHaveProviderWithProperties(KubernetesProvider, { config_path: '~/.kube/config' });
    });

    it('then the state is a local file, terraform.gpu-dev.tfstate', () => {
      expect(json.terraform.backend).toEqual({ local: { path: '../../../terraform.gpu-dev.tfstate' } });
    });

    it("then its outputs are the Job's name and the bundle hash", () => {
      expect(json.output).toMatchObject({ migration_job: { value: job.metadata.name }, bundle_hash: { value: hash } });
    });

    it('then each SQL file is one key of its ConfigMap, holding the file text (escaped for Terraform)', () => {
      const file = (folder: string, name: string) => escapeTemplate(readFileSync(join(REPO_ROOT, 'database', folder, name), 'utf8'));
      expect(text).toHaveResourceWithProperties(ConfigMapV1, {
        metadata: { name: `database-schema-${hash.slice(0, 12)}`, namespace: 'gpu-controlplane', labels: { app: 'database-migration' } },
        data: Object.fromEntries(
          ['001_users_and_keys.sql', '002_reservations.sql', '003_disks.sql', '004_gpu_types.sql', '005_users_and_keys_as_deployed.sql'].map((n) => [
            n,
            file('schema', n),
          ]),
        ),
      });
      expect(text).toHaveResourceWithProperties(ConfigMapV1, {
        metadata: objectContaining({ name: `database-fixtures-${hash.slice(0, 12)}` }),
        data: { '001_initial_gpu_types.sql': file('fixtures', '001_initial_gpu_types.sql') },
      });
    });

    it("then the runner is not in the configuration: the Job runs the product image's and names its build and image", () => {
      expect(text).not.toContain(runnerBytes().toString('base64').slice(0, 200));
      const [container] = job.spec.template.spec.container;
      expect(container.image).toBe('gpu-dev-api:0.1.0');
      expect(container.args[0]).toBe('/app/dist/gpu-dev-db.js');
      expect(container.env).toEqual(
        arrayContaining([
          { name: 'MIGRATION_RUNNER_DIGEST', value: createHash('sha256').update(runnerBytes()).digest('hex') },
          { name: 'MIGRATION_RUNNER_IMAGE', value: 'gpu-dev-api:0.1.0' },
        ]),
      );
    });

    // One Job only: each property below holds of it, as one toHaveResourceWithProperties of them all would.
    it('then the Job and its pod template are labelled, and annotated with the bundle hash', () => {
      expect(text).toHaveResourceWithProperties(JobV1, {
        metadata: {
          name: `db-migration-${hash.slice(0, 12)}`,
          namespace: 'gpu-controlplane',
          labels: { app: 'database-migration' },
          annotations: { 'gpu-dev/bundle-hash': hash },
        },
        spec: objectContaining({
          template: objectContaining({ metadata: { labels: { app: 'database-migration' }, annotations: { 'gpu-dev/bundle-hash': hash } } }),
        }),
      });
    });

    it('then the apply waits for the Job to complete, with explicit timeouts', () => {
      expect(text).toHaveResourceWithProperties(JobV1, { wait_for_completion: true, timeouts: { create: '900s', update: '900s' } });
    });

    it('then its retries and its deadline are bounded', () => {
      expect(text).toHaveResourceWithProperties(JobV1, { spec: objectContaining({ backoff_limit: 3, active_deadline_seconds: 600 }) });
    });

    it('then it has no TTL', () => {
      expect(job.spec).not.toHaveProperty('ttl_seconds_after_finished');
    });

    it('then a failure that repeats on every attempt fails the Job at once', () => {
      // Input, usage, hash, staleness, drift, guard and permanent SQL failures repeat on every attempt: fail the Job at once.
      expect(job.spec.pod_failure_policy.rule[0]).toEqual({
        action: 'FailJob',
        on_exit_codes: { container_name: 'migrate', operator: 'In', values: [2, 3, 8, 10, 11, 12, 13] },
      });
    });

    it('then the Job pod is hardened', () => {
      expect(jobPod).toMatchObject({ automount_service_account_token: false, security_context: HARDENED_POD });
      expect(jobContainer).toMatchObject({ security_context: HARDENED_CONTAINER });
    });

    it('then the Job keeps failed pods (restart policy Never)', () => {
      expect(jobPod).toMatchObject({ restart_policy: 'Never' });
    });

    it('then the Job runs the runner on the mounted folders, passing the full hash', () => {
      expect(jobContainer).toMatchObject({
        name: 'migrate',
        image: 'gpu-dev-api:0.1.0',
        command: ['node'],
        args: [
          '/app/dist/gpu-dev-db.js',
          'apply',
          '--schema-dir',
          '/opt/gpu-dev-db/schema',
          '--fixtures-dir',
          '/opt/gpu-dev-db/fixtures',
          '--expected-hash',
          hash,
        ],
      });
    });

    it('then the Job has bounded resources, and its termination message falls back to its logs', () => {
      expect(jobContainer).toMatchObject({
        resources: { requests: { cpu: '100m', memory: '96Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
        termination_message_path: '/dev/termination-log',
        termination_message_policy: 'FallbackToLogsOnError',
      });
    });

    it('then the Job takes credentials by secret reference, with the rest of its settings', () => {
      expect(jobContainer.env).toEqual([
        secretRef('POSTGRES_USER'),
        secretRef('POSTGRES_PASSWORD'),
        secretRef('POSTGRES_DB'),
        { name: 'POSTGRES_HOST', value: 'postgres-primary' },
        { name: 'POSTGRES_PORT', value: '5432' },
        { name: 'MIGRATION_JOB_NAME', value: job.metadata.name },
        { name: 'MIGRATION_RUNNER_DIGEST', value: stack.migration.bundle.runnerDigest },
        { name: 'MIGRATION_RUNNER_IMAGE', value: 'gpu-dev-api:0.1.0' },
        { name: 'MIGRATION_CONVERGE', value: 'apply' },
        { name: 'MIGRATION_TERMINATION_LOG', value: '/dev/termination-log' },
        POD_NAMESPACE,
      ]);
    });

    it('then the Job mounts its ConfigMaps read-only', () => {
      expect(jobPod.volume).toEqual([
        { name: 'schema', config_map: { name: `database-schema-${hash.slice(0, 12)}`, default_mode: '0444' } },
        { name: 'fixtures', config_map: { name: `database-fixtures-${hash.slice(0, 12)}`, default_mode: '0444' } },
      ]);
    });

    it('then the API depends on the Job and the Job on its ConfigMaps', () => {
      const configMaps = [`database-schema-${hash.slice(0, 12)}`, `database-fixtures-${hash.slice(0, 12)}`].map((n) =>
        addressOf(json, 'kubernetes_config_map_v1', n),
      );
      const owner = addressOf(json, 'kubernetes_config_map_v1', 'gpu-dev-deploy-owner');
      expect(job.depends_on).toEqual([...configMaps, owner]);
      expect(only(json, 'kubernetes_deployment_v1').depends_on).toEqual([addressOf(json, 'kubernetes_job_v1', job.metadata.name), owner]);
    });

    it('then every object but the owner ConfigMap depends on it, so a second state deploying into the namespace fails before creating anything', () => {
      const owner = addressOf(json, 'kubernetes_config_map_v1', 'gpu-dev-deploy-owner');
      const ownerConfigMap = Object.values<any>(json.resource.kubernetes_config_map_v1).find((cm) => cm.metadata.name === 'gpu-dev-deploy-owner');
      expect(ownerConfigMap.data).toEqual({
        stack: 'gpu-dev',
        state: 'terraform.gpu-dev.tfstate',
        identity: '${substr(sha256(join("|", [abspath(path.root), "terraform.gpu-dev.tfstate"])), 0, 16)}',
      });
      expect(ownerConfigMap.depends_on).toBeUndefined();
      for (const [type, resources] of Object.entries(json.resource)) {
        for (const [name, resource] of Object.entries<any>(resources)) {
          if (`${type}.${name}` !== owner)
            expect({ resource: `${type}.${name}`, dependsOnOwner: resource.depends_on?.includes(owner) }).toEqual({
              resource: `${type}.${name}`,
              dependsOnOwner: true,
            });
        }
      }
    });

    it('then every object has an import block that adopts it only when the cluster has it and the deploy owner is this state', () => {
      const owner = addressOf(json, 'kubernetes_config_map_v1', 'gpu-dev-deploy-owner');
      const objects = Object.entries(json.resource).flatMap(([type, resources]) =>
        Object.entries<any>(resources).map(([name, r]) => ({ to: `${type}.${name}`, id: `${r.metadata.namespace}/${r.metadata.name}` })),
      );
      expect(json.import.map((i: any) => ({ to: i.to, id: i.id })).sort((a: any, b: any) => a.to.localeCompare(b.to))).toEqual(
        objects.sort((a, b) => a.to.localeCompare(b.to)),
      );
      const ownerImport = json.import.find((i: any) => i.to === owner);
      expect(ownerImport?.for_each).toContain(
        'o.metadata.name == "gpu-dev-deploy-owner" && try(o.data.identity, "") == substr(sha256(join("|", [abspath(path.root), "terraform.gpu-dev.tfstate"])), 0, 16)',
      );
      for (const other of json.import.filter((i: any) => i.to !== owner))
        expect(other.for_each).toContain('if local.gpu_dev_owner_is_ours && o.metadata.name == ');
    });

    it("then the Job's address carries the bundle hash, so a Job a killed deploy left is adopted at its own address", () => {
      expect(Object.keys(json.resource.kubernetes_job_v1)).toEqual([expect.stringMatching(new RegExp(`^migration_job-${hash.slice(0, 12)}_[0-9A-F]{8}$`))]);
    });

    // One Deployment only: each property below holds of it, as one toHaveResourceWithProperties of them all would.
    it('then the API is labelled, with two replicas it selects by that label', () => {
      expect(text).toHaveResourceWithProperties(DeploymentV1, {
        metadata: { name: 'gpu-dev-api', namespace: 'gpu-controlplane', labels: { app: 'gpu-dev-api' } },
        spec: objectContaining({ replicas: '2', selector: { match_labels: { app: 'gpu-dev-api' } } }),
      });
    });

    it('then the API has the bundle hash in its pod template', () => {
      expect(text).toHaveResourceWithProperties(DeploymentV1, {
        spec: objectContaining({
          template: { metadata: { labels: { app: 'gpu-dev-api' }, annotations: { 'gpu-dev/bundle-hash': hash } }, spec: expect.anything() },
        }),
      });
    });

    it('then the API has probes on its http port', () => {
      expect(text).toHaveResourceWithProperties(
        DeploymentV1,
        apiPod(
          {},
          {
            port: [{ name: 'http', container_port: 8000 }],
            liveness_probe: objectContaining({ http_get: { path: '/health', port: 'http' } }),
            readiness_probe: objectContaining({ http_get: { path: '/ready', port: 'http' } }),
            startup_probe: objectContaining({ http_get: { path: '/health', port: 'http' } }),
          },
        ),
      );
    });

    it('then the API pod is hardened', () => {
      expect(text).toHaveResourceWithProperties(
        DeploymentV1,
        apiPod({ automount_service_account_token: false, security_context: HARDENED_POD }, { security_context: HARDENED_CONTAINER }),
      );
    });

    it('then the API runs the product image with its resources and settings', () => {
      expect(text).toHaveResourceWithProperties(
        DeploymentV1,
        apiPod(
          {},
          {
            image: 'gpu-dev-api:0.1.0',
            resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
            env: [
              secretRef('POSTGRES_USER'),
              secretRef('POSTGRES_PASSWORD'),
              secretRef('POSTGRES_DB'),
              { name: 'POSTGRES_HOST', value: 'postgres-primary' },
              { name: 'POSTGRES_PORT', value: '5432' },
              { name: 'PORT', value: '8000' },
              POD_NAMESPACE,
            ],
          },
        ),
      );
    });

    it("then the API's Service serves its http port in the cluster", () => {
      expect(text).toHaveResourceWithProperties(ServiceV1, {
        metadata: objectContaining({ name: 'gpu-dev-api' }),
        spec: { type: 'ClusterIP', selector: { app: 'gpu-dev-api' }, port: [{ name: 'http', port: 8000, target_port: 'http', protocol: 'TCP' }] },
      });
    });
  });

  it("when the image changes, then the bundle hash and the Job's name change with it", () => {
    const other = synthStack({ GPU_DEV_API_IMAGE: 'gpu-dev-api:0.2.0' }).stack.migration;
    expect(other.bundle.hash).not.toBe(hash);
    expect(other.jobName).toBe(`db-migration-${other.bundle.hash.slice(0, 12)}`);
  });
});

describe('the stack in managed-database mode', () => {
  const password = 'known-password-5f1c9e';
  let synthesized: ReturnType<typeof synthStack>;
  beforeAll(() => {
    // A password in the synthesizing environment must not leak into the output either.
    process.env.POSTGRES_PASSWORD = password;
    try {
      synthesized = synthStack({ GPU_DEV_DATABASE_MODE: 'managed' });
    } finally {
      delete process.env.POSTGRES_PASSWORD;
    }
  });

  describe('when synthesized', () => {
    it('then it creates the namespace, and every object is in it', () => {
      const { json } = synthesized;
      const namespaceRef = '${kubernetes_namespace_v1.namespace.metadata[0].name}';
      expect(only(json, 'kubernetes_namespace_v1').metadata.name).toBe('gpu-controlplane');
      for (const type of [
        'kubernetes_config_map_v1',
        'kubernetes_job_v1',
        'kubernetes_deployment_v1',
        'kubernetes_service_v1',
        'kubernetes_secret_v1',
        'kubernetes_stateful_set_v1',
      ]) {
        for (const resource of Object.values(json.resource[type])) expect((resource as any).metadata.namespace).toBe(namespaceRef);
      }
    });

    it('then it generates a password, declaring the random provider', () => {
      const { text } = synthesized;
      expect(text).toHaveResourceWithProperties(Password, { length: 32, special: false });
      expect(text).toHaveProvider(RandomProvider);
    });

    it('then its secret holds the user, the database and the generated password', () => {
      const { json } = synthesized;
      const passwordRef = `\${random_password.${Object.keys(json.resource.random_password)[0]}.result}`;
      expect(only(json, 'kubernetes_secret_v1')).toMatchObject({
        metadata: { name: 'postgres-credentials' },
        data: { POSTGRES_USER: 'gpudev', POSTGRES_DB: 'gpudev', POSTGRES_PASSWORD: passwordRef },
      });
    });

    it('then it runs PostgreSQL 18 with PGMQ in a StatefulSet with a volume', () => {
      const { text } = synthesized;
      expect(text).toHaveResourceWithProperties(StatefulSetV1, {
        spec: objectContaining({
          replicas: '1',
          service_name: 'postgres-primary',
          template: objectContaining({
            spec: objectContaining({
              container: [
                objectContaining({
                  image: 'ghcr.io/pgmq/pg18-pgmq:v1.10.0',
                  security_context: objectContaining({ run_as_user: '999', read_only_root_filesystem: true }),
                }),
              ],
            }),
          }),
          volume_claim_template: [objectContaining({ spec: { access_modes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } } })],
        }),
      });
    });

    it('then its Service postgres-primary serves port 5432', () => {
      const { text } = synthesized;
      expect(text).toHaveResourceWithProperties(ServiceV1, {
        metadata: objectContaining({ name: 'postgres-primary' }),
        spec: objectContaining({ port: [objectContaining({ port: 5432 })] }),
      });
    });

    it('then a ConfigMap of SQL creates the pgmq extension', () => {
      const { text } = synthesized;
      expect(text).toHaveResourceWithProperties(ConfigMapV1, { data: { '010_pgmq.sql': 'CREATE EXTENSION IF NOT EXISTS pgmq;\n' } });
    });

    it('then the Job waits for the database and reads the secret the stack creates', () => {
      const { json } = synthesized;
      const job = only(json, 'kubernetes_job_v1');
      expect(job.depends_on).toEqual(
        arrayContaining([addressOf(json, 'kubernetes_stateful_set_v1', 'postgres-primary'), addressOf(json, 'kubernetes_service_v1', 'postgres-primary')]),
      );
      const secretName = `\${${addressOf(json, 'kubernetes_secret_v1', 'postgres-credentials')}.metadata[0].name}`;
      expect(job.spec.template.spec.container[0].env).toEqual(arrayContaining([secretRef('POSTGRES_PASSWORD', secretName)]));
    });

    it('then no password value appears anywhere: every POSTGRES_PASSWORD is a reference', () => {
      const { text, json } = synthesized;
      expect(text).not.toContain(password);
      const passwords: unknown[] = [];
      const walk = (node: unknown): void => {
        if (Array.isArray(node)) node.forEach(walk);
        else if (node && typeof node === 'object') {
          for (const [key, value] of Object.entries(node)) {
            if (key === 'POSTGRES_PASSWORD') passwords.push(value);
            if (key === 'name' && value === 'POSTGRES_PASSWORD')
              passwords.push((node as Record<string, unknown>).value_from ?? (node as Record<string, unknown>).value);
            walk(value);
          }
        }
      };
      walk(json.resource);
      expect(passwords.length).toBeGreaterThanOrEqual(4);
      for (const p of passwords)
        expect(p).toEqual(
          typeof p === 'string' ? stringMatching(/^\$\{random_password\.\w+\.result\}$/) : { secret_key_ref: objectContaining({ key: 'POSTGRES_PASSWORD' }) },
        );
    });
  });
});

describe('settings that change the stack', () => {
  describe('when a TTL, runner timeouts, images, replicas and a namespace are configured', () => {
    let job: any;
    let api: any;
    beforeAll(() => {
      const { json } = synthStack({
        GPU_DEV_MIGRATION_TTL: '60m',
        GPU_DEV_MIGRATION_LOCK_TIMEOUT: '500ms',
        GPU_DEV_MIGRATION_STATEMENT_TIMEOUT: '2m',
        GPU_DEV_RUNNER_IMAGE: 'registry.example.com/node:20.19-bookworm-slim',
        GPU_DEV_API_IMAGE: 'registry.example.com/gpu-dev-api:0.2.0',
        GPU_DEV_API_REPLICAS: '3',
        GPU_DEV_NAMESPACE: 'gpu-staging',
      });
      job = only(json, 'kubernetes_job_v1');
      api = only(json, 'kubernetes_deployment_v1');
    });

    it('then the Job is removed after the TTL, in seconds', () => {
      expect(job.spec.ttl_seconds_after_finished).toBe('3600');
    });

    it('then the Job is in the namespace', () => {
      expect(job.metadata.namespace).toBe('gpu-staging');
    });

    it('then the Job runs on the runner image', () => {
      expect(job.spec.template.spec.container[0].image).toBe('registry.example.com/node:20.19-bookworm-slim');
    });

    it('then the Job passes the runner timeouts', () => {
      expect(job.spec.template.spec.container[0].env.slice(-2)).toEqual([
        { name: 'MIGRATION_LOCK_TIMEOUT', value: '500ms' },
        { name: 'MIGRATION_STATEMENT_TIMEOUT', value: '2m' },
      ]);
    });

    it('then the API has the replicas', () => {
      expect(api.spec.replicas).toBe('3');
    });

    it('then the API runs the API image', () => {
      expect(api.spec.template.spec.container[0].image).toBe('registry.example.com/gpu-dev-api:0.2.0');
    });
  });
});

describe('a stack without the migration Job (GPU_DEV_MIGRATION_JOB=false)', () => {
  describe('when the Job is turned off', () => {
    let json: any;
    let suffix: string;
    beforeAll(() => {
      const synthesized = synthStack({ GPU_DEV_MIGRATION_JOB: 'false' });
      json = synthesized.json;
      suffix = synthesized.stack.migration.bundle.hash.slice(0, 12);
    });

    it('then no Job exists', () => {
      expect(json.resource.kubernetes_job_v1).toBeUndefined();
    });

    it('then the ConfigMaps stay', () => {
      expect(
        Object.values<any>(json.resource.kubernetes_config_map_v1)
          .map((cm) => cm.metadata.name)
          .sort(),
      ).toEqual([`database-fixtures-${suffix}`, `database-schema-${suffix}`, 'gpu-dev-deploy-owner']);
    });

    it('then the API waits for nothing but the owner ConfigMap', () => {
      expect(only(json, 'kubernetes_deployment_v1').depends_on).toEqual([addressOf(json, 'kubernetes_config_map_v1', 'gpu-dev-deploy-owner')]);
    });

    it('then no migration_job output is declared', () => {
      expect(Object.keys(json.output)).toEqual(['bundle_hash']);
    });
  });
});
describe('every wait the stack asks the provider for is bounded', () => {
  it('when synthesized with defaults, then the API rollout has a progress deadline below its timeouts, and managed PostgreSQL its own timeouts', () => {
    const api = only(synthStack().json, 'kubernetes_deployment_v1');
    expect({ progress: api.spec.progress_deadline_seconds, wait: api.wait_for_rollout, timeouts: api.timeouts }).toEqual({
      progress: 180,
      wait: true,
      timeouts: { create: '300s', update: '300s' },
    });
    const postgres = only(synthStack({ GPU_DEV_DATABASE_MODE: 'managed' }).json, 'kubernetes_stateful_set_v1');
    expect({ wait: postgres.wait_for_rollout, timeouts: postgres.timeouts }).toEqual({ wait: true, timeouts: { create: '300s', update: '300s' } });
  });

  it('when the settings change them, then the synthesized waits follow, and a rollout timeout not above its progress deadline is refused naming both settings', () => {
    const api = only(synthStack({ GPU_DEV_API_PROGRESS_DEADLINE: '90s', GPU_DEV_API_ROLLOUT_TIMEOUT: '2m' }).json, 'kubernetes_deployment_v1');
    expect([api.spec.progress_deadline_seconds, api.timeouts.create]).toEqual([90, '120s']);
    expect(() => synthStack({ GPU_DEV_API_PROGRESS_DEADLINE: '5m' })).toThrow(
      'GPU_DEV_API_ROLLOUT_TIMEOUT (setting apiRolloutTimeout, default) = "5m": must be longer than apiProgressDeadline (5m), or Terraform stops waiting while the rollout may still run',
    );
    expect(() => synthStack({ GPU_DEV_DATABASE_MODE: 'managed', GPU_DEV_POSTGRES_TIMEOUT: '90500ms' })).toThrow(
      'GPU_DEV_POSTGRES_TIMEOUT (setting postgresTimeout) = "90500ms": must be a whole number of seconds',
    );
  });
});

describe('the constructs on their own', () => {
  it('when the API is built without a migration, then it neither waits for a Job nor carries a bundle hash', () => {
    const text = Testing.synthScope((scope) => new ApiService(scope, 'api'));
    const deployment = Object.values(JSON.parse(text).resource.kubernetes_deployment_v1)[0] as any;
    expect(deployment.depends_on).toBeUndefined();
    expect(deployment.spec.template.metadata).toEqual({ labels: { app: 'gpu-dev-api' } });
  });

  it('when the runner comes from a ConfigMap and holds any bytes, then its ConfigMap carries exactly them (binaryData, base64), mounted where the Job runs it on the Node image', () => {
    let migration: DatabaseMigration | undefined;
    const text = Testing.synthScope(
      (scope) => (migration = new DatabaseMigration(scope, 'm', { runnerSource: 'configmap', runnerBytes: Buffer.from([0x63, 0xff, 0x24, 0x7b]) })),
    );
    const name = `database-migration-runner-${migration?.bundle.hash.slice(0, 12)}`;
    const runner = Object.values<any>(JSON.parse(text).resource.kubernetes_config_map_v1).find((cm) => cm.metadata.name === name);
    expect(runner.binary_data).toEqual({ 'gpu-dev-db.js': Buffer.from([0x63, 0xff, 0x24, 0x7b]).toString('base64') });
    const [container] = Object.values<any>(JSON.parse(text).resource.kubernetes_job_v1)[0].spec.template.spec.container;
    expect(container).toMatchObject({ image: 'node:20-bookworm-slim', args: expect.arrayContaining(['/opt/gpu-dev-db/runner/gpu-dev-db.js']) });
  });

  it('when ManagedPostgres is built in a stack without the random provider, then it declares it', () => {
    expect(Testing.synthScope((scope) => new ManagedPostgres(scope, 'db'))).toHaveProvider(RandomProvider);
  });

  it.each([
    [
      () => new DatabaseMigration(testApp(), 'm', { runnerBytes: runnerBytes(), backoffLimit: 42 }),
      'DatabaseMigration m prop backoffLimit = 42: must be a whole number from 0 to 10',
    ],
    [
      () => new DatabaseMigration(testApp(), 'm', { runnerBytes: runnerBytes(), timeout: Duration.parse('5m') }),
      'DatabaseMigration m prop timeout = "5m": must be longer than activeDeadline (10m)',
    ],
    [
      () => new DatabaseMigration(testApp(), 'm', { runnerBytes: runnerBytes(), activeDeadline: Duration.parse('20m') }),
      'DatabaseMigration m prop timeout = "15m": must be longer than activeDeadline (20m), or Terraform stops waiting while the Job may still run',
    ],
    [
      () => new DatabaseMigration(testApp(), 'm', { runnerBytes: runnerBytes(), ttl: Duration.parse('1500ms') }),
      'DatabaseMigration m prop ttl = "1500ms": must be a whole number of seconds, such as 90s or 15m',
    ],
    [
      () => new DatabaseMigration(testApp(), 'm', { runnerBytes: runnerBytes(), activeDeadline: Duration.parse('0.5s') }),
      'DatabaseMigration m prop activeDeadline = "0.5s": must be a whole number of seconds',
    ],
    [
      () => new DatabaseMigration(testApp(), 'm', { runnerBytes: runnerBytes(), image: 'Node 20' }),
      'DatabaseMigration m prop image = "Node 20": must be an image reference',
    ],
    [() => new ApiService(testApp(), 'a', { port: 80 }), 'ApiService a prop port = 80: must be a whole number from 1024 to 65535'],
    [
      () => new ApiService(testApp(), 'a', { resources: { cpuRequest: '2', cpuLimit: '500m', memoryRequest: '1Gi', memoryLimit: '2Gi' } }),
      'ApiService a prop resources.cpuRequest = "2": must not exceed the CPU limit 500m',
    ],
    [
      () => new ManagedPostgres(testApp(), 'p', { user: 'Admin-User' }),
      'ManagedPostgres p prop user = "Admin-User": must be a lower-case PostgreSQL identifier',
    ],
    [() => new ManagedPostgres(testApp(), 'p', { storage: '10 GB' }), 'ManagedPostgres p prop storage = "10 GB": must be a positive memory quantity'],
  ])('when a construct gets a bad prop (%#), then it refuses, naming the prop, the value and the rule', (build, message) => {
    expect(build).toThrow(message);
  });
});
