import { NamespaceV1 } from '@cdktf/provider-kubernetes/lib/namespace-v1';
import { KubernetesProvider } from '@cdktf/provider-kubernetes/lib/provider';
import { ConfigMapV1 } from '@cdktf/provider-kubernetes/lib/config-map-v1';
import {
  Aspects,
  LocalBackend,
  S3Backend,
  TerraformOutput,
  TerraformResource,
  TerraformStack,
  Token,
  type IResolveContext,
  type ITerraformDependable,
} from 'cdktf';
import type { Construct } from 'constructs';
import { posix } from 'node:path';
import { containerResources, DEFAULTS, settingName, type StackConfig } from './config';
import { Adoption, IDENTITY_KEY } from './constructs/adoption';
import { ApiService, type ApiServiceProps } from './constructs/api-service';
import { DatabaseMigration, type DatabaseMigrationProps } from './constructs/database-migration';
import { ManagedPostgres, type ManagedPostgresProps } from './constructs/managed-postgres';
import { TemplateLiteralEscaping } from './terraform-literals';
import { renameProps } from './validation';

/** The label of the stack's own objects that no construct owns (the namespace, the owner ConfigMap). */
const PART_OF = { 'app.kubernetes.io/part-of': 'gpu-dev' } as const;

export interface GpuDevStackProps {
  /** @default the platform's defaults (config.ts DEFAULTS) */
  readonly config?: StackConfig;
  /** @default this repository's database/schema */
  readonly schemaDir?: string;
  /** @default this repository's database/fixtures */
  readonly fixturesDir?: string;
  /** The bundled runner the Job runs (synth builds it with src/build/runner-bundle.ts). */
  readonly runnerBytes: Buffer;
  /** Bytes per ConfigMap before a folder splits. @default 1,000,000 */
  readonly configMapLimitBytes?: number;
}

/**
 * The control plane's deployable parts: the namespace (when configured), the optional managed
 * PostgreSQL, the migration (ConfigMaps and hash-named Job) and the API that waits for it.
 */
export class GpuDevStack extends TerraformStack {
  readonly config: StackConfig;
  readonly migration: DatabaseMigration;
  readonly api: ApiService;
  readonly postgres?: ManagedPostgres;
  /** The ConfigMap `<stackName>-deploy-owner`, created first: one state per namespace. */
  readonly owner: ConfigMapV1;

  constructor(scope: Construct, id: string, props: GpuDevStackProps) {
    super(scope, id);
    const config = (this.config = props.config ?? DEFAULTS);

    if (config.backend === 's3') {
      const backend = new S3Backend(this, { bucket: config.s3Bucket as string, key: config.s3Key, region: config.s3Region, encrypt: true });
      // State locking by a lock object next to the state (Terraform ≥ 1.10, OpenTofu ≥ 1.10); no DynamoDB table.
      backend.addOverride('use_lockfile', true);
    } else {
      // Terraform runs in cdktf.out/stacks/<stack>: three levels below the folder the path is relative to.
      // Declared explicitly because cdktf's default is an absolute path, different on every machine.
      new LocalBackend(this, { path: posix.join('..', '..', '..', config.stateFile) });
    }
    // "~" is expanded by the provider at plan time, so no home folder lands in cdk.tf.json.
    new KubernetesProvider(this, 'kubernetes', { configPath: config.kubeconfig, configContext: config.kubeContext });

    // A reference, not the literal name: everything in the namespace then waits for it.
    const namespace = config.createNamespace
      ? new NamespaceV1(this, 'namespace', { metadata: { name: config.namespace, labels: PART_OF } }).metadata.name
      : config.namespace;

    // One Terraform state per namespace. Every other object depends on this ConfigMap, so a second
    // state deploying the stack into the same namespace (another checkout, another state file,
    // racing or not) fails creating it, "already exists", before it creates anything of its own.
    this.owner = new ConfigMapV1(this, 'owner', {
      metadata: { name: ownerName(config), namespace, labels: PART_OF },
      data: { stack: config.stackName, state: config.backend === 's3' ? `s3://${config.s3Bucket}/${config.s3Key}` : config.stateFile },
    });

    renameProps<ManagedPostgresProps>(this, 'postgres', { timeout: settingName(config, 'postgresTimeout') });
    this.postgres =
      config.databaseMode === 'managed'
        ? new ManagedPostgres(this, 'postgres', {
            namespace,
            serviceName: config.databaseHost,
            secretName: config.databaseSecret,
            image: config.postgresImage,
            user: config.postgresUser,
            database: config.postgresDatabase,
            port: config.databasePort,
            storage: config.postgresStorage,
            storageClassName: config.postgresStorageClass,
            timeout: config.postgresTimeout,
          })
        : undefined;
    const database = {
      secretName: this.postgres?.secretName ?? config.databaseSecret,
      databaseHost: this.postgres?.host ?? config.databaseHost,
      databasePort: config.databasePort,
    };

    // The durations' Kubernetes rules are checked by DatabaseMigration alone (config.ts only
    // parses them): its refusals of these props name the setting the value came from.
    renameProps<DatabaseMigrationProps>(this, 'migration', {
      activeDeadline: settingName(config, 'migrationActiveDeadline'),
      timeout: settingName(config, 'migrationTimeout'),
      ttl: settingName(config, 'migrationTtl'),
    });
    this.migration = new DatabaseMigration(this, 'migration', {
      namespace,
      ...database,
      schemaDir: props.schemaDir,
      fixturesDir: props.fixturesDir,
      runnerBytes: props.runnerBytes,
      configMapLimitBytes: props.configMapLimitBytes,
      runnerSource: config.runnerSource,
      image: config.runnerImage,
      resources: containerResources(config, 'migration'),
      backoffLimit: config.migrationBackoffLimit,
      activeDeadline: config.migrationActiveDeadline,
      timeout: config.migrationTimeout,
      ttl: config.migrationTtl,
      lockTimeout: config.migrationLockTimeout,
      statementTimeout: config.migrationStatementTimeout,
      converge: config.migrationConverge,
      allowServerFiles: config.migrationAllowServerFiles,
      runJob: config.migrationJob,
      dependsOn: this.postgres?.ready,
    });

    renameProps<ApiServiceProps>(this, 'api', {
      progressDeadline: settingName(config, 'apiProgressDeadline'),
      rolloutTimeout: settingName(config, 'apiRolloutTimeout'),
    });
    this.api = new ApiService(this, 'api', {
      namespace,
      ...database,
      image: config.apiImage,
      replicas: config.apiReplicas,
      port: config.apiPort,
      resources: containerResources(config, 'api'),
      migration: this.migration,
      progressDeadline: config.apiProgressDeadline,
      rolloutTimeout: config.apiRolloutTimeout,
    });

    for (const node of this.node.findAll()) {
      if (node instanceof TerraformResource && node !== this.owner && !(node instanceof NamespaceV1)) {
        node.dependsOn = [...(node.dependsOn ?? []), dependencyOn(this.owner)];
      }
    }

    // An interrupted deploy leaves objects the state never recorded: the next one adopts them
    // (constructs/adoption.ts), those of this state only. The identity is evaluated by OpenTofu,
    // so cdk.tf.json holds no path of this machine.
    const identity =
      config.backend === 's3'
        ? JSON.stringify(`s3://${config.s3Bucket}/${config.s3Key}`)
        : `substr(sha256(join("|", [abspath(path.root), ${JSON.stringify(config.stateFile)}])), 0, 16)`;
    // A stack-level override, so the literal-escaping aspect leaves the expression an expression.
    this.addOverride(`resource.kubernetes_config_map_v1.${this.owner.friendlyUniqueId}.data.${IDENTITY_KEY}`, `\${${identity}}`);
    new Adoption(this, 'adoption', { namespace: config.namespace, owner: this.owner, ownerName: ownerName(config), identity });

    // At synth, over every element: nothing literal of ours is ever evaluated by Terraform.
    Aspects.of(this).add(new TemplateLiteralEscaping());

    if (this.migration.job) {
      new TerraformOutput(this, 'migration_job', {
        value: this.migration.jobName,
        description: 'name of the migration Job: kubectl logs -n <namespace> job/<name>',
      });
    }
    new TerraformOutput(this, 'bundle_hash', { value: this.migration.bundle.hash, description: 'sha256 of the SQL bundle and the runner the Job applied' });
  }
}

/** The deploy-owner ConfigMap's name: one per stack name and namespace. */
function ownerName(config: StackConfig): string {
  return `${config.stackName}-deploy-owner`;
}

/** A `depends_on` entry for `target`, as cdktf writes the ones given to a constructor (its own helper is not exported). */
function dependencyOn(target: ITerraformDependable): string {
  return Token.asString({
    creationStack: [],
    resolve: (context: IResolveContext) => {
      context.suppressBraces = true;
      return target.fqn;
    },
    toString: () => target.fqn,
  });
}
