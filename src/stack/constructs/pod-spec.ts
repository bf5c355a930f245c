import { CREDENTIAL_VARIABLES, DEFAULT_POSTGRES_HOST, DEFAULT_POSTGRES_PORT } from '../../kernel/connection';
import { DEFAULT_NAMESPACE } from '../../kernel/contract';
import { dns1123Label, dns1123Subdomain, integerBetween, type PropSpec } from '../validation';

/**
 * Pieces every pod of the stack shares, in the shape the Kubernetes provider's pod templates
 * take (the Job's and the Deployment's types are structurally the same), and the props every
 * construct takes the same way: its namespace and how its pods reach PostgreSQL.
 */

export const NAMESPACE = { default: DEFAULT_NAMESPACE, rule: dns1123Label } satisfies PropSpec<string>;
/** Secret with POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB. */
export const DATABASE_SECRET = { default: 'postgres-credentials', rule: dns1123Subdomain } satisfies PropSpec<string>;
/** The runner's and the API's own defaults: a pod without these variables would connect there too. */
export const DATABASE_HOST = { default: DEFAULT_POSTGRES_HOST, rule: dns1123Subdomain } satisfies PropSpec<string>;
export const DATABASE_PORT = { default: DEFAULT_POSTGRES_PORT, rule: integerBetween(1, 65535) } satisfies PropSpec<number>;

/** The product's image: the API, and the migration runner at RUNNER_IN_IMAGE (the Dockerfile builds both). */
export const PRODUCT_IMAGE = 'gpu-dev-api:0.1.0';

/** Annotation carrying the full bundle hash (label values stop at 63 characters; the hash is 64). */
export const BUNDLE_HASH_ANNOTATION = 'gpu-dev/bundle-hash';

/** Pod level: never root, the runtime's default seccomp profile. */
export function podSecurityContext(uid: number) {
  return {
    runAsNonRoot: true,
    runAsUser: String(uid),
    runAsGroup: String(uid),
    fsGroup: String(uid),
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Container level: read-only root filesystem, no privilege escalation, no capabilities. */
export function containerSecurityContext(uid: number) {
  return {
    runAsNonRoot: true,
    runAsUser: String(uid),
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** POSTGRES_USER/PASSWORD/DB by reference to the secret: no credential value is ever synthesized. */
export function credentialsEnv(secretName: string) {
  return CREDENTIAL_VARIABLES.map((key) => ({ name: key, valueFrom: { secretKeyRef: { name: secretName, key } } }));
}

/** POD_NAMESPACE from the downward API: the runner and the API name the right namespace in the kubectl commands they print. */
export function namespaceEnv() {
  return { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } };
}
