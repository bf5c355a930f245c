import { DataKubernetesResources } from '@cdktf/provider-kubernetes/lib/data-kubernetes-resources';
import { TerraformResource, TerraformStack } from 'cdktf';
import { Construct } from 'constructs';

/**
 * Adoption of the stack's own objects: a deploy killed after the API server created an object but
 * before OpenTofu saved its state (it saves at most every 20 s, and never for a Job or a
 * Deployment it is still waiting for) leaves that object in the cluster and out of the state, and
 * every later apply would fail with "already exists". For each object of the stack, an `import`
 * block adopts an object of that name when the cluster has it and the state has not: OpenTofu
 * skips an import whose address is in the state, so a normal deploy imports nothing.
 *
 * Only this state's objects are adopted: the deploy-owner ConfigMap carries an identity of the
 * state (the S3 location, or a hash of the local state file's absolute folder and name), and
 * the others are adopted only when that ConfigMap is ours. A second state deploying into the
 * same namespace still fails on the owner ConfigMap, "already exists", having created nothing.
 */

export interface AdoptionProps {
  /** The namespace everything of the stack is in, as a literal. */
  readonly namespace: string;
  /** The deploy-owner ConfigMap: its name and its `data` key holding the identity. */
  readonly owner: TerraformResource;
  readonly ownerName: string;
  /** A Terraform expression (no `${}`) that evaluates to this state's identity. */
  readonly identity: string;
}

/** The kinds the stack creates, by resource type: the list call for them and how to name one in an import. */
const KINDS: Readonly<Record<string, { apiVersion: string; kind: string; namespaced: boolean }>> = {
  kubernetes_config_map_v1: { apiVersion: 'v1', kind: 'ConfigMap', namespaced: true },
  kubernetes_secret_v1: { apiVersion: 'v1', kind: 'Secret', namespaced: true },
  kubernetes_service_v1: { apiVersion: 'v1', kind: 'Service', namespaced: true },
  kubernetes_job_v1: { apiVersion: 'batch/v1', kind: 'Job', namespaced: true },
  kubernetes_deployment_v1: { apiVersion: 'apps/v1', kind: 'Deployment', namespaced: true },
  kubernetes_stateful_set_v1: { apiVersion: 'apps/v1', kind: 'StatefulSet', namespaced: true },
  kubernetes_namespace_v1: { apiVersion: 'v1', kind: 'Namespace', namespaced: false },
};

export const IDENTITY_KEY = 'identity';
const PART_OF = 'app.kubernetes.io/part-of';

export class Adoption extends Construct {
  /** Each adopted resource's address, for tests and the docs. */
  readonly addresses: readonly string[];

  constructor(scope: Construct, id: string, props: AdoptionProps) {
    super(scope, id);
    const stack = TerraformStack.of(this);
    const resources = stack.node
      .findAll()
      .filter((node): node is TerraformResource => node instanceof TerraformResource && node.terraformResourceType in KINDS);
    const lists = new Map<string, DataKubernetesResources>();
    const listOf = (type: string): string => {
      const { apiVersion, kind, namespaced } = KINDS[type];
      if (!lists.has(kind)) {
        lists.set(
          kind,
          new DataKubernetesResources(
            this,
            `existing-${kind.toLowerCase()}`,
            namespaced ? { apiVersion, kind, namespace: props.namespace } : { apiVersion, kind, fieldSelector: `metadata.name=${props.namespace}` },
          ),
        );
      }
      return `data.kubernetes_resources.${(lists.get(kind) as DataKubernetesResources).friendlyUniqueId}`;
    };
    const configMaps = listOf('kubernetes_config_map_v1');
    const owner = json(props.ownerName);
    const ours = `o.metadata.name == ${owner} && try(o.data.${IDENTITY_KEY}, "") == ${props.identity}`;
    stack.addOverride('locals.gpu_dev_owner_is_ours', `\${length([for o in ${configMaps}.objects : o if ${ours}]) > 0}`);
    stack.addOverride('locals.gpu_dev_owner_exists', `\${length([for o in ${configMaps}.objects : o if o.metadata.name == ${owner}]) > 0}`);
    const imports = resources.map((resource) => {
      const name = literalName(resource);
      const { namespaced } = KINDS[resource.terraformResourceType];
      const condition =
        resource === props.owner
          ? ours
          : namespaced
            ? `local.gpu_dev_owner_is_ours && o.metadata.name == ${json(name)}`
            : // A namespace of ours carries the part-of label; a namespace someone else made is never adopted (destroy would delete it).
              `o.metadata.name == ${json(name)} && try(o.metadata.labels[${json(PART_OF)}], "") == "gpu-dev" && (local.gpu_dev_owner_is_ours || !local.gpu_dev_owner_exists)`;
      return {
        for_each: `\${{ for o in ${listOf(resource.terraformResourceType)}.objects : o.metadata.name => true if ${condition} }}`,
        to: `${resource.terraformResourceType}.${resource.friendlyUniqueId}`,
        id: namespaced ? `${props.namespace}/${name}` : name,
      };
    });
    stack.addOverride('import', imports);
    this.addresses = imports.map((i) => i.to);
  }
}

/** The literal metadata name a resource was configured with. */
function literalName(resource: TerraformResource): string {
  const name = (resource as unknown as { metadataInput?: { name?: unknown } }).metadataInput?.name;
  if (typeof name !== 'string' || name.includes('${')) throw new Error(`${resource.node.path}: adoption needs a literal metadata name, got ${String(name)}`);
  return name;
}

/** A string as a Terraform expression literal. */
function json(text: string): string {
  return JSON.stringify(text);
}
