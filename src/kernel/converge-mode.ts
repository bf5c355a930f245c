/**
 * What the runner does with an existing table whose CREATE TABLE IF NOT EXISTS declares more than
 * it has (src/runner/converge.ts): `apply` brings it to the declaration in place, generating only
 * what is safe; `refuse` leaves it, and the drift check fails the run (exit 11) as before
 * convergence existed. The runner's `--converge` / MIGRATION_CONVERGE and the stack's setting
 * both read this.
 */
export const CONVERGE_MODES = ['apply', 'refuse'] as const;
export type ConvergeMode = (typeof CONVERGE_MODES)[number];
export const DEFAULT_CONVERGE_MODE: ConvergeMode = 'apply';
