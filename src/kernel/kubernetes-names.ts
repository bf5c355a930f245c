/**
 * Kubernetes' name rules, the one copy the stack (its settings and props), the API and the
 * runner (POD_NAMESPACE) check names with. Each returns why a name breaks the rule, or undefined.
 */

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Namespaces, Services, Job names: lower-case alphanumerics and '-', at most 63 characters. */
export function dns1123LabelProblem(name: string): string | undefined {
  return name.length <= 63 && DNS1123_LABEL.test(name)
    ? undefined
    : 'must be a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit, at most 63 characters';
}

/** ConfigMap, Secret, Deployment names and host names: dot-separated labels, at most 253 characters. */
export function dns1123SubdomainProblem(name: string): string | undefined {
  return name.length <= 253 && DNS1123_SUBDOMAIN.test(name)
    ? undefined
    : 'must be a DNS-1123 subdomain: dot-separated lower-case labels of letters, digits and "-", at most 253 characters';
}
