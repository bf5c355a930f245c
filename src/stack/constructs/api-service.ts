import { DeploymentV1 } from '@cdktf/provider-kubernetes/lib/deployment-v1';
import { ServiceV1 } from '@cdktf/provider-kubernetes/lib/service-v1';
import { Construct } from 'constructs';
import { Duration } from '../../kernel/duration';
import {
  check,
  dns1123Label,
  imageReference,
  integerBetween,
  outlasts,
  propNames,
  propReader,
  resourcesProp,
  toKubernetesResources,
  wholeSeconds,
  type ContainerResources,
  type PropSpecs,
} from '../validation';
import type { DatabaseMigration } from './database-migration';
import {
  BUNDLE_HASH_ANNOTATION,
  containerSecurityContext,
  credentialsEnv,
  namespaceEnv,
  DATABASE_HOST,
  DATABASE_PORT,
  DATABASE_SECRET,
  NAMESPACE,
  podSecurityContext,
  PRODUCT_IMAGE,
} from './pod-spec';

/** The API image's unprivileged user (a Node image's `node` user). */
const API_UID = 1000;

export interface ApiServiceProps {
  /** @default "gpu-controlplane" */
  readonly namespace?: string;
  /** Name of the Deployment and the Service, and the pods' `app` label. @default "gpu-dev-api" */
  readonly name?: string;
  /** @default "gpu-dev-api:0.1.0" */
  readonly image?: string;
  /** @default 2 */
  readonly replicas?: number;
  /** Port the API listens on (its PORT) and the Service serves. @default 8000 */
  readonly port?: number;
  /** @default 100m / 128Mi requested, 1 CPU / 512Mi limit */
  readonly resources?: ContainerResources;
  /** Secret with POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB. @default "postgres-credentials" */
  readonly secretName?: string;
  /** @default "postgres-primary" */
  readonly databaseHost?: string;
  /** @default 5432 */
  readonly databasePort?: number;
  /**
   * The migration the API waits for: the Deployment depends on its Job, and the pod template
   * carries its bundle hash, so a schema change restarts the API, which re-verifies the schema.
   * @default none (the API neither waits nor restarts on schema changes)
   */
  readonly migration?: DatabaseMigration;
  /**
   * `progress_deadline_seconds`: a rollout that makes no progress this long (pods not Ready: an
   * image that cannot be pulled, a failing readiness probe) is marked failed by Kubernetes, and
   * Terraform stops waiting with that reason; whole seconds. @default 3m
   */
  readonly progressDeadline?: Duration;
  /** How long Terraform waits for the rollout (create and update timeouts); whole seconds, longer than progressDeadline. @default 5m */
  readonly rolloutTimeout?: Duration;
}

/** Each prop's default and rule, written once: the construct applies them, config.ts reads them for its settings. */
export const API_SERVICE_PROPS = {
  namespace: NAMESPACE,
  name: { default: 'gpu-dev-api', rule: dns1123Label },
  image: { default: PRODUCT_IMAGE, rule: imageReference },
  replicas: { default: 2, rule: integerBetween(0, 20) },
  port: { default: 8000, rule: integerBetween(1024, 65535) },
  secretName: DATABASE_SECRET,
  databaseHost: DATABASE_HOST,
  databasePort: DATABASE_PORT,
  progressDeadline: { default: Duration.parse('3m'), rule: wholeSeconds },
  rolloutTimeout: { default: Duration.parse('5m'), rule: wholeSeconds },
} as const satisfies PropSpecs<ApiServiceProps>;

/** The `resources` prop's default. */
export const API_RESOURCES: ContainerResources = { cpuRequest: '100m', memoryRequest: '128Mi', cpuLimit: '1', memoryLimit: '512Mi' };

/** The API: a Deployment with probes and pod hardening, and its Service. */
export class ApiService extends Construct {
  readonly name: string;
  readonly image: string;
  readonly deployment: DeploymentV1;
  readonly service: ServiceV1;

  constructor(scope: Construct, id: string, props: ApiServiceProps = {}) {
    super(scope, id);
    const names = propNames<ApiServiceProps>(this, 'ApiService');
    const subject = names.subject;
    const prop = propReader(subject, props, API_SERVICE_PROPS);
    const namespace = prop('namespace');
    this.name = prop('name');
    this.image = prop('image');
    const replicas = prop('replicas');
    const port = prop('port');
    const resources = resourcesProp(subject('resources'), props.resources, API_RESOURCES);
    const secretName = prop('secretName');
    const host = prop('databaseHost');
    const databasePort = prop('databasePort');
    const progressDeadline = prop('progressDeadline');
    const rolloutTimeout = check(subject('rolloutTimeout'), prop('rolloutTimeout'), outlasts(progressDeadline, names.name('progressDeadline'), 'the rollout'));

    const labels = { app: this.name };
    const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
      httpGet: { path, port: 'http' },
      periodSeconds,
      timeoutSeconds: 2,
      failureThreshold,
    });
    this.deployment = new DeploymentV1(this, 'deployment', {
      metadata: { name: this.name, namespace, labels },
      spec: {
        replicas: String(replicas),
        progressDeadlineSeconds: progressDeadline.toSeconds(),
        selector: { matchLabels: labels },
        template: {
          metadata: {
            labels,
            annotations: props.migration ? { [BUNDLE_HASH_ANNOTATION]: props.migration.bundle.hash } : undefined,
          },
          spec: {
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            securityContext: podSecurityContext(API_UID),
            container: [
              {
                name: 'api',
                image: this.image,
                port: [{ name: 'http', containerPort: port }],
                env: [
                  ...credentialsEnv(secretName),
                  { name: 'POSTGRES_HOST', value: host },
                  { name: 'POSTGRES_PORT', value: String(databasePort) },
                  { name: 'PORT', value: String(port) },
                  namespaceEnv(),
                ],
                // Start-up connects with retries and verifies the schema before it listens: allow a
                // minute before liveness counts; readiness follows the database and the schema.
                startupProbe: probe('/health', 2, 30),
                livenessProbe: probe('/health', 10, 3),
                readinessProbe: probe('/ready', 5, 3),
                resources: toKubernetesResources(resources),
                securityContext: containerSecurityContext(API_UID),
              },
            ],
          },
        },
      },
      waitForRollout: true,
      timeouts: { create: `${rolloutTimeout.toSeconds()}s`, update: `${rolloutTimeout.toSeconds()}s` },
      dependsOn: props.migration?.job ? [props.migration.job] : undefined,
    });

    this.service = new ServiceV1(this, 'service', {
      metadata: { name: this.name, namespace, labels },
      spec: {
        type: 'ClusterIP',
        selector: labels,
        port: [{ name: 'http', port, targetPort: 'http', protocol: 'TCP' }],
      },
    });
  }
}
