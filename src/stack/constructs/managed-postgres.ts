import { ConfigMapV1 } from '@cdktf/provider-kubernetes/lib/config-map-v1';
import { SecretV1 } from '@cdktf/provider-kubernetes/lib/secret-v1';
import { ServiceV1 } from '@cdktf/provider-kubernetes/lib/service-v1';
import { StatefulSetV1 } from '@cdktf/provider-kubernetes/lib/stateful-set-v1';
import { Password } from '@cdktf/provider-random/lib/password';
import { RandomProvider } from '@cdktf/provider-random/lib/provider';
import { TerraformStack, type ITerraformDependable } from 'cdktf';
import { Construct } from 'constructs';
import { Duration } from '../../kernel/duration';
import {
  dns1123Label,
  dns1123Subdomain,
  imageReference,
  memoryQuantity,
  postgresIdentifier,
  propNames,
  propReader,
  resourcesProp,
  toKubernetesResources,
  wholeSeconds,
  type ContainerResources,
  type PropSpecs,
} from '../validation';
import { containerSecurityContext, credentialsEnv, DATABASE_HOST, DATABASE_PORT, DATABASE_SECRET, NAMESPACE, podSecurityContext } from './pod-spec';

/** The postgres user of the Debian-based official images (and the PGMQ images built on them). */
const POSTGRES_UID = 999;
const LABELS = { app: 'postgres', role: 'primary' } as const;

export interface ManagedPostgresProps {
  /** @default "gpu-controlplane" */
  readonly namespace?: string;
  /** Name of the Service clients connect to (POSTGRES_HOST). @default "postgres-primary" */
  readonly serviceName?: string;
  /** Secret the stack creates with POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB. @default "postgres-credentials" */
  readonly secretName?: string;
  /** PostgreSQL 18 image with the PGMQ extension installed. @default "ghcr.io/pgmq/pg18-pgmq:v1.10.0" */
  readonly image?: string;
  /** @default "gpudev" */
  readonly user?: string;
  /** @default "gpudev" */
  readonly database?: string;
  /** @default 5432 */
  readonly port?: number;
  /** Size of the data volume. @default "10Gi" */
  readonly storage?: string;
  /** StorageClass of the data volume. @default the cluster's default StorageClass */
  readonly storageClassName?: string;
  /** @default 250m / 256Mi requested, 1 CPU / 1Gi limit */
  readonly resources?: ContainerResources;
  /**
   * How long Terraform waits for PostgreSQL to be Ready (create and update timeouts): a volume
   * that no StorageClass or PersistentVolume binds leaves the pod Pending, with no failure of its
   * own, and without a bound this would be the provider's silent 10 minutes; whole seconds. @default 5m
   */
  readonly timeout?: Duration;
}

/** Each prop's default and rule, written once: the construct applies them, config.ts reads them for its settings. */
export const MANAGED_POSTGRES_PROPS = {
  namespace: NAMESPACE,
  // The Service's name: a label, where a client's host may be any DNS name.
  serviceName: { default: DATABASE_HOST.default, rule: dns1123Label },
  secretName: DATABASE_SECRET,
  image: { default: 'ghcr.io/pgmq/pg18-pgmq:v1.10.0', rule: imageReference },
  user: { default: 'gpudev', rule: postgresIdentifier },
  database: { default: 'gpudev', rule: postgresIdentifier },
  port: DATABASE_PORT,
  storage: { default: '10Gi', rule: memoryQuantity },
  storageClassName: { rule: dns1123Subdomain },
  timeout: { default: Duration.parse('5m'), rule: wholeSeconds },
} as const satisfies PropSpecs<ManagedPostgresProps>;

/** The `resources` prop's default. */
const POSTGRES_RESOURCES: ContainerResources = { cpuRequest: '250m', memoryRequest: '256Mi', cpuLimit: '1', memoryLimit: '1Gi' };

/**
 * A self-contained PostgreSQL for a cluster without one: a generated password (random_password:
 * the value lives only in Terraform state and the Secret, never in the synthesized JSON), the
 * `postgres-credentials` Secret, a one-replica StatefulSet with a data volume, the PGMQ extension
 * created on first start, and the `postgres-primary` Service.
 */
export class ManagedPostgres extends Construct {
  /** The Secret's name, as a reference: whatever uses it waits for the Secret. */
  readonly secretName: string;
  /** The Service's name, as a reference: whatever connects waits for the Service. */
  readonly host: string;
  readonly port: number;
  readonly image: string;
  readonly statefulSet: StatefulSetV1;
  /** What a client must wait for before it connects. */
  readonly ready: ITerraformDependable[];

  constructor(scope: Construct, id: string, props: ManagedPostgresProps = {}) {
    super(scope, id);
    const subject = propNames<ManagedPostgresProps>(this, 'ManagedPostgres').subject;
    const prop = propReader(subject, props, MANAGED_POSTGRES_PROPS);
    const namespace = prop('namespace');
    const serviceName = prop('serviceName');
    const secretName = prop('secretName');
    this.image = prop('image');
    const user = prop('user');
    const database = prop('database');
    this.port = prop('port');
    const storage = prop('storage');
    const storageClassName = prop('storageClassName');
    const timeout = prop('timeout');
    const resources = resourcesProp(subject('resources'), props.resources, POSTGRES_RESOURCES);

    // The random provider is this construct's own need; declare it once per stack.
    const stack = TerraformStack.of(this);
    if (!stack.node.tryFindChild('random')) new RandomProvider(stack, 'random');
    const password = new Password(this, 'password', { length: 32, special: false });

    const secret = new SecretV1(this, 'credentials', {
      metadata: { name: secretName, namespace, labels: LABELS },
      data: { POSTGRES_USER: user, POSTGRES_DB: database, POSTGRES_PASSWORD: password.result },
    });
    this.secretName = secret.metadata.name;

    const init = new ConfigMapV1(this, 'init', {
      metadata: { name: `${serviceName}-init`, namespace, labels: LABELS },
      // Runs once, when the data volume is initialised: the API needs PGMQ, the migration does not create it.
      data: { '010_pgmq.sql': 'CREATE EXTENSION IF NOT EXISTS pgmq;\n' },
    });

    const service = new ServiceV1(this, 'service', {
      metadata: { name: serviceName, namespace, labels: LABELS },
      spec: { type: 'ClusterIP', selector: LABELS, port: [{ name: 'postgres', port: this.port, targetPort: 'postgres', protocol: 'TCP' }] },
    });
    this.host = service.metadata.name;

    const isReady = ['sh', '-c', `pg_isready -h 127.0.0.1 -p ${this.port} -U "$POSTGRES_USER" -d "$POSTGRES_DB"`];
    this.statefulSet = new StatefulSetV1(this, 'statefulset', {
      metadata: { name: serviceName, namespace, labels: LABELS },
      spec: {
        replicas: '1',
        serviceName,
        selector: { matchLabels: LABELS },
        template: {
          metadata: { labels: LABELS },
          spec: {
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            securityContext: podSecurityContext(POSTGRES_UID),
            container: [
              {
                name: 'postgres',
                image: this.image,
                args: ['-p', String(this.port)],
                port: [{ name: 'postgres', containerPort: this.port }],
                // The image's entrypoint reads the same three keys the migration and the API use.
                env: credentialsEnv(secretName),
                readinessProbe: { exec: { command: isReady }, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 },
                livenessProbe: { exec: { command: isReady }, initialDelaySeconds: 30, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
                resources: toKubernetesResources(resources),
                securityContext: containerSecurityContext(POSTGRES_UID),
                volumeMount: [
                  // PostgreSQL 18 images keep PGDATA under /var/lib/postgresql/18/.
                  { name: 'data', mountPath: '/var/lib/postgresql' },
                  { name: 'init', mountPath: '/docker-entrypoint-initdb.d', readOnly: true },
                  // Writable places a read-only root filesystem still needs: the socket and temp files.
                  { name: 'run', mountPath: '/var/run/postgresql' },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volume: [
              { name: 'init', configMap: { name: init.metadata.name, defaultMode: '0444' } },
              { name: 'run', emptyDir: {} },
              { name: 'tmp', emptyDir: {} },
            ],
          },
        },
        volumeClaimTemplate: [
          {
            metadata: { name: 'data', labels: LABELS },
            spec: { accessModes: ['ReadWriteOnce'], storageClassName, resources: { requests: { storage } } },
          },
        ],
      },
      waitForRollout: true,
      timeouts: { create: `${timeout.toSeconds()}s`, update: `${timeout.toSeconds()}s` },
      // The Secret by reference in env does not order creation: make it explicit.
      dependsOn: [secret],
    });
    this.ready = [this.statefulSet, service, secret];
  }
}
