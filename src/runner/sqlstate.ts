/**
 * Whether a PostgreSQL error can go away on a retry, by its SQLSTATE. A permanent one fails the
 * same way on every attempt, so the runner exits 13 and the Job fails at once; anything else
 * exits 7 and the Job retries. docs/runner.md shows this table (test/docs.test.ts keeps it in step).
 */
export interface SqlStateRule {
  /** A class (the first two characters of a SQLSTATE) or one SQLSTATE. */
  readonly code: string;
  readonly name: string;
  readonly kind: 'permanent' | 'transient';
}

/** A SQLSTATE's own row wins over its class's. */
export const SQLSTATE_RULES: readonly SqlStateRule[] = [
  { code: '0A', name: 'feature not supported', kind: 'permanent' },
  { code: '22', name: 'data exception', kind: 'permanent' },
  { code: '23', name: 'integrity constraint violation', kind: 'permanent' },
  { code: '2B', name: 'dependent objects still exist', kind: 'permanent' },
  { code: '3F', name: 'invalid schema name', kind: 'permanent' },
  { code: '42', name: 'syntax error or access rule violation', kind: 'permanent' },
  { code: '44', name: 'WITH CHECK OPTION violation', kind: 'permanent' },
  { code: '08', name: 'connection exception', kind: 'transient' },
  { code: '40', name: 'transaction rollback', kind: 'transient' },
  { code: '53', name: 'insufficient resources', kind: 'transient' },
  { code: '55P03', name: 'lock not available', kind: 'transient' },
  { code: '57', name: 'operator intervention', kind: 'transient' },
  { code: '58', name: 'system error', kind: 'transient' },
  { code: 'XX', name: 'internal error', kind: 'transient' },
];

export const LOCK_NOT_AVAILABLE = '55P03';
export const QUERY_CANCELED = '57014';

/** The row that decides `code`; none for a SQLSTATE the table does not know (then: transient). */
function sqlStateRule(code: string | undefined): SqlStateRule | undefined {
  if (code === undefined) return undefined;
  return SQLSTATE_RULES.find((rule) => rule.code === code) ?? SQLSTATE_RULES.find((rule) => rule.code.length === 2 && code.startsWith(rule.code));
}

export function isPermanentSqlState(code: string | undefined): boolean {
  return sqlStateRule(code)?.kind === 'permanent';
}

/** The sentence the runner's error message adds: can a retry help? */
export function describeRetry(code: string | undefined): string {
  const rule = sqlStateRule(code);
  if (!rule) {
    // Unknown means transient: a needless retry costs minutes, a wrong "permanent" would hide a failure a retry fixes.
    return `${code ? `SQLSTATE ${code}` : 'an error without a SQLSTATE'} is not one the runner classifies, so it counts as transient: it may succeed on a retry`;
  }
  const which = `SQLSTATE ${rule.code.length === 2 ? `class ${rule.code}` : rule.code}, ${rule.name}`;
  return rule.kind === 'permanent' ? `permanent (${which}): a retry would fail the same way: fix the file` : `transient (${which}): it may succeed on a retry`;
}
