/**
 * Pieces every pod of the stack shares, in the shape the Kubernetes provider's pod templates
 * take (the Job's and the Deployment's types are structurally the same).
 */

/** Annotation carrying the full bundle hash (label values stop at 63 characters; the hash is 64). */
export const BUNDLE_HASH_ANNOTATION = 'gpu-dev/bundle-hash';

/** The keys of the credentials secret, as the platform's `postgres-credentials` has them. */
export const SECRET_KEYS = ['POSTGRES_USER', 'POSTGRES_PASSWORD', 'POSTGRES_DB'] as const;

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
  return SECRET_KEYS.map((key) => ({ name: key, valueFrom: { secretKeyRef: { name: secretName, key } } }));
}
