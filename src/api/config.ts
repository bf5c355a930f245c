import { connectionFromEnv, DEFAULT_CONNECT_RETRY, type ConnectionTarget, type RetryPolicy } from '../kernel/connection';
import { DEFAULT_API_LOCK_TIMEOUT_SECONDS, DEFAULT_NAMESPACE } from '../kernel/contract';
import { ExitCode } from '../kernel/exit-codes';
import { ApiError } from './errors';
import { dns1123LabelProblem } from '../kernel/kubernetes-names';

const APPLICATION_NAME = 'gpu-dev-api';

/** Everything the API is told, validated once at start-up and passed in. */
export interface ApiConfig {
  readonly port: number;
  readonly database: ConnectionTarget;
  readonly connectRetry: RetryPolicy;
  readonly poolMax: number;
  readonly statementTimeoutMs: number;
  readonly lockTimeoutMs: number;
  readonly queueName: string;
  readonly diskQueueName: string;
  readonly apiKeyTtlHours: number;
  readonly maxActiveKeys: number;
  readonly bodyLimitBytes: number;
  readonly shutdownGraceMs: number;
  /** The pod's namespace (POD_NAMESPACE, from the downward API), for the kubectl commands in messages. */
  readonly namespace: string;
}

/** PGMQ refuses names of 48 characters or more; the pattern keeps them safe as identifiers. */
const QUEUE_NAME = /^[A-Za-z0-9_]{1,47}$/;

/**
 * Reads and validates the API's environment. Every problem is reported at once, each naming
 * the variable, the value and the rule, in one error that exits with the usage code.
 */
export function loadConfig(env: NodeJS.ProcessEnv): ApiConfig {
  const problems: string[] = [];
  const whole = (name: string, fallback: number, min: number, max: number): number => {
    const text = env[name]?.trim();
    if (!text) return fallback;
    const n = Number(text);
    if (/^\d+$/.test(text) && n >= min && n <= max) return n;
    problems.push(`${name} must be a whole number from ${min} to ${max}, got "${text}"`);
    return fallback;
  };
  const queue = (name: string, fallback: string): string => {
    const text = env[name]?.trim() || fallback;
    if (!QUEUE_NAME.test(text)) problems.push(`${name} must be 1 to 47 letters, digits or underscores (^[A-Za-z0-9_]+$), got "${text}"`);
    return text;
  };

  let database: ConnectionTarget | undefined;
  try {
    database = connectionFromEnv(env, APPLICATION_NAME);
  } catch (error) {
    problems.push((error as Error).message);
  }
  const config = {
    port: whole('PORT', 8000, 0, 65535),
    connectRetry: { ...DEFAULT_CONNECT_RETRY, attempts: whole('API_CONNECT_ATTEMPTS', DEFAULT_CONNECT_RETRY.attempts, 1, 1000) },
    poolMax: whole('DB_POOL_MAX', 10, 1, 100),
    statementTimeoutMs: whole('DB_STATEMENT_TIMEOUT_SECONDS', 30, 1, 3600) * 1000,
    // A migration holding a lock longer than this makes requests fail fast with a 503.
    lockTimeoutMs: whole('DB_LOCK_TIMEOUT_SECONDS', DEFAULT_API_LOCK_TIMEOUT_SECONDS, 1, 3600) * 1000,
    queueName: queue('QUEUE_NAME', 'gpu_reservations'),
    diskQueueName: queue('DISK_QUEUE_NAME', 'disk_operations'),
    apiKeyTtlHours: whole('API_KEY_TTL_HOURS', 2, 1, 168),
    maxActiveKeys: whole('API_MAX_ACTIVE_KEYS', 5, 1, 100),
    bodyLimitBytes: whole('API_BODY_LIMIT_KB', 1024, 1, 102400) * 1024,
    shutdownGraceMs: whole('API_SHUTDOWN_GRACE_SECONDS', 20, 1, 600) * 1000,
    namespace: namespaceFrom(env, problems),
  };
  if (config.queueName.toLowerCase() === config.diskQueueName.toLowerCase()) {
    // PGMQ lower-cases table names: the two would be one queue with two kinds of messages.
    problems.push(`QUEUE_NAME and DISK_QUEUE_NAME must name different queues, both are "${config.queueName}"`);
  }
  if (config.lockTimeoutMs >= config.statementTimeoutMs) {
    // The statement would be cancelled (a 500) before its lock wait could end in a 503.
    problems.push(
      `DB_LOCK_TIMEOUT_SECONDS (${config.lockTimeoutMs / 1000}) must be less than DB_STATEMENT_TIMEOUT_SECONDS (${config.statementTimeoutMs / 1000})`,
    );
  }
  if (problems.length > 0 || !database) {
    throw new ApiError(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`, ExitCode.usage);
  }
  return { ...config, database };
}

/** POD_NAMESPACE, a DNS-1123 label; unset: the stack's default namespace. */
function namespaceFrom(env: NodeJS.ProcessEnv, problems: string[]): string {
  const text = env.POD_NAMESPACE?.trim();
  if (!text) return DEFAULT_NAMESPACE;
  const problem = dns1123LabelProblem(text);
  if (!problem) return text;
  problems.push(`POD_NAMESPACE must be a Kubernetes namespace name: it ${problem}, got "${text}"`);
  return DEFAULT_NAMESPACE;
}
