import { hostname, userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { DEFAULT_CONNECT_RETRY, DEFAULT_POSTGRES_HOST, DEFAULT_POSTGRES_PORT } from '../../kernel/connection';
import { CONVERGE_MODES, DEFAULT_CONVERGE_MODE, type ConvergeMode } from '../../kernel/converge-mode';
import { Duration, InvalidDurationError } from '../../kernel/duration';
import { dns1123LabelProblem } from '../../kernel/kubernetes-names';
import { EXIT_CODES, ExitCode, type ExitCodeName } from '../../kernel/exit-codes';
import { DEFAULT_LOCK_RETRY, type DriftMode } from '../apply';
import { COMMANDS, type Command, type RunnerSettings } from '../commands';
import { MigrationError } from '../errors';
import { DEFAULT_TIMEOUTS } from '../guard';
import { DEFAULT_LOCK_WAIT } from '../migration-lock';

/**
 * The CLI's flags and environment, parsed and validated once into the RunnerSettings a command
 * runs with (flags win over the environment). Defaults are the library's own (DEFAULT_TIMEOUTS,
 * DEFAULT_LOCK_RETRY, …): the usage text below prints them rather than restating them.
 */

/** Where the files are when no option says (relative to the current folder, as `npx gpu-dev-db` runs). */
const DEFAULT_DIRS = { schemaDir: 'database/schema', fixturesDir: 'database/fixtures' } as const;
const DEFAULT_DRIFT: DriftMode = 'fail';
const written = (ms: number) => Duration.ofMilliseconds(ms).toString();

/** Each option with the environment variable that can set it instead. */
const OPTIONS = {
  'schema-dir': { type: 'string', env: 'SCHEMA_DIR' },
  'fixtures-dir': { type: 'string', env: 'FIXTURES_DIR' },
  'expected-hash': { type: 'string', env: 'EXPECTED_BUNDLE_HASH' },
  'expected-runner': { type: 'string', env: 'MIGRATION_RUNNER_DIGEST' },
  'runner-image': { type: 'string', env: 'MIGRATION_RUNNER_IMAGE' },
  'lock-timeout': { type: 'string', env: 'MIGRATION_LOCK_TIMEOUT' },
  'statement-timeout': { type: 'string', env: 'MIGRATION_STATEMENT_TIMEOUT' },
  'idle-timeout': { type: 'string', env: 'MIGRATION_IDLE_TIMEOUT' },
  'lock-retries': { type: 'string', env: 'MIGRATION_LOCK_RETRIES' },
  'lock-wait': { type: 'string', env: 'MIGRATION_LOCK_WAIT' },
  'connect-attempts': { type: 'string', env: 'MIGRATION_CONNECT_ATTEMPTS' },
  'applied-by': { type: 'string', env: 'MIGRATION_JOB_NAME' },
  drift: { type: 'string', env: 'MIGRATION_DRIFT' },
  converge: { type: 'string', env: 'MIGRATION_CONVERGE' },
  'allow-server-files': { type: 'boolean', env: 'MIGRATION_ALLOW_SERVER_FILES' },
  force: { type: 'boolean' },
  json: { type: 'boolean' },
  timings: { type: 'boolean' },
  'skip-pgmq': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const USAGE = `Usage: gpu-dev-db <command> [options]

Commands:
  apply    apply the bundle (schema, then fixtures) in one transaction, under the migration lock
  status   what the database has applied, how the files on disk differ from it, and drift (exit 11)
  plan     run the bundle in a transaction that is rolled back: schema changes, fixture rows, drift
  verify   the API's start-up check: required tables, columns and PGMQ

Options (each can also be set by the environment variable in brackets):
  --schema-dir DIR          schema folder [SCHEMA_DIR] (default: ${DEFAULT_DIRS.schemaDir})
  --fixtures-dir DIR        fixtures folder [FIXTURES_DIR] (default: ${DEFAULT_DIRS.fixturesDir})
  --expected-hash HASH      refuse to run unless the files hash to HASH [EXPECTED_BUNDLE_HASH]
  --expected-runner DIGEST  refuse to run unless this runner's sha256 is DIGEST [MIGRATION_RUNNER_DIGEST]
  --runner-image IMAGE      the image this runner runs on, part of the bundle hash [MIGRATION_RUNNER_IMAGE]
  --lock-timeout DUR        lock_timeout per statement [MIGRATION_LOCK_TIMEOUT] (default: ${written(DEFAULT_TIMEOUTS.lockTimeoutMs)})
  --statement-timeout DUR   statement_timeout per statement [MIGRATION_STATEMENT_TIMEOUT] (default: ${written(DEFAULT_TIMEOUTS.statementTimeoutMs)})
  --idle-timeout DUR        a frozen or unreachable runner's session, transaction and locks end after
                            about this long [MIGRATION_IDLE_TIMEOUT] (default: ${written(DEFAULT_TIMEOUTS.idleTimeoutMs)})
  --lock-retries N          retries after a lock_timeout, with back-off [MIGRATION_LOCK_RETRIES] (default: ${DEFAULT_LOCK_RETRY.retries})
  --lock-wait DUR           how long to wait for another runner [MIGRATION_LOCK_WAIT] (default: ${written(DEFAULT_LOCK_WAIT.timeoutMs)})
  --connect-attempts N      connection attempts, with back-off [MIGRATION_CONNECT_ATTEMPTS] (default: ${DEFAULT_CONNECT_RETRY.attempts})
  --applied-by NAME         who runs it, for the history [MIGRATION_JOB_NAME] (default: user@host)
  --drift fail|warn         schema drift fails the run, or (emergency) is only logged [MIGRATION_DRIFT] (default: ${DEFAULT_DRIFT})
  --converge ${CONVERGE_MODES.join('|')}   an existing table whose CREATE TABLE IF NOT EXISTS declares more is brought to it
                            in place (what is safe; the rest is drift), or left to drift [MIGRATION_CONVERGE]
                            (default: ${DEFAULT_CONVERGE_MODE})
  --allow-server-files      let COPY to or from a server file or PROGRAM, and pg_read_file and its kin, run
                            (refused by default: migrations are reviewed as SQL, not as the server's files
                            or shell) [MIGRATION_ALLOW_SERVER_FILES=true] (default: false)
  --force                   apply even if this bundle is already applied
  --skip-pgmq               verify: do not check for PGMQ
  --json                    print the result as JSON on stdout (progress goes to stderr)
  --timings                 log where the run's time went, phase by phase (also in --json)
  -h, --help                this text

Database: DATABASE_URL, or POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB with POSTGRES_HOST
(default ${DEFAULT_POSTGRES_HOST}) and POSTGRES_PORT (default ${DEFAULT_POSTGRES_PORT}).
Durations: a number with ms, s or m (500ms, 3s, 5m).

Exit codes (the Job retries none of those marked *):
${(Object.keys(ExitCode) as ExitCodeName[]).map((name) => `  ${String(ExitCode[name]).padStart(2)}${EXIT_CODES[name].permanent ? '*' : ' '} ${EXIT_CODES[name].meaning}`).join('\n')}`;

function usage(message: string): MigrationError {
  return new MigrationError(`${message}\nRun gpu-dev-db --help for the options.`, ExitCode.usage);
}

/** Parses flags and environment; `null` means --help was asked for. */
export function parseSettings(argv: readonly string[], env: NodeJS.ProcessEnv): RunnerSettings | null {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (cause) {
    throw usage((cause as Error).message);
  }
  if (parsed.values.help) return null;
  const [command, ...extra] = parsed.positionals;
  if (!command) throw usage('no command given: use apply, status, plan or verify');
  if (!(COMMANDS as readonly string[]).includes(command)) throw usage(`unknown command "${command}": use apply, status, plan or verify`);
  if (extra.length > 0) throw usage(`unexpected argument "${extra[0]}"`);
  const value = (name: keyof typeof OPTIONS): { text: string; source: string } | undefined => {
    const flag = parsed.values[name];
    if (typeof flag === 'string') return { text: flag, source: `--${name}` };
    const envName = 'env' in OPTIONS[name] ? (OPTIONS[name] as { env: string }).env : undefined;
    const fromEnv = envName ? env[envName]?.trim() : undefined;
    return fromEnv ? { text: fromEnv, source: envName as string } : undefined;
  };
  const duration = (name: keyof typeof OPTIONS, fallback: number) => {
    const v = value(name);
    return v ? parseDuration(v.text, v.source) : fallback;
  };
  const count = (name: keyof typeof OPTIONS, fallback: number, min: number, max: number) => {
    const v = value(name);
    if (!v) return fallback;
    const n = Number(v.text);
    if (!/^\d+$/.test(v.text) || n < min || n > max) throw usage(`${v.source} must be a whole number from ${min} to ${max}, got "${v.text}"`);
    return n;
  };
  const sha256 = (name: 'expected-hash' | 'expected-runner') => {
    const v = value(name);
    if (v && !/^[0-9a-f]{64}$/.test(v.text)) throw usage(`${v.source} must be a sha256 hex digest (64 characters 0-9a-f), got "${v.text}"`);
    return v?.text;
  };
  const drift = value('drift');
  if (drift && drift.text !== 'fail' && drift.text !== 'warn') throw usage(`${drift.source} must be fail or warn, got "${drift.text}"`);
  const converge = value('converge');
  if (converge && !(CONVERGE_MODES as readonly string[]).includes(converge.text))
    throw usage(`${converge.source} must be ${CONVERGE_MODES.join(' or ')}, got "${converge.text}"`);
  const lockTimeoutMs = duration('lock-timeout', DEFAULT_TIMEOUTS.lockTimeoutMs);
  const statementTimeoutMs = duration('statement-timeout', DEFAULT_TIMEOUTS.statementTimeoutMs);
  const idleTimeoutMs = duration('idle-timeout', DEFAULT_TIMEOUTS.idleTimeoutMs);
  return {
    command: command as Command,
    schemaDir: value('schema-dir')?.text ?? DEFAULT_DIRS.schemaDir,
    fixturesDir: value('fixtures-dir')?.text ?? DEFAULT_DIRS.fixturesDir,
    expectedHash: sha256('expected-hash'),
    expectedRunnerDigest: sha256('expected-runner'),
    runnerImage: value('runner-image')?.text,
    timeouts: { lockTimeoutMs, statementTimeoutMs, idleTimeoutMs },
    lockRetry: { ...DEFAULT_LOCK_RETRY, retries: count('lock-retries', DEFAULT_LOCK_RETRY.retries, 0, 100) },
    lockWait: {
      ...DEFAULT_LOCK_WAIT,
      timeoutMs: duration('lock-wait', DEFAULT_LOCK_WAIT.timeoutMs),
      namespace: podNamespace(env) ?? DEFAULT_LOCK_WAIT.namespace,
    },
    connectRetry: { ...DEFAULT_CONNECT_RETRY, attempts: count('connect-attempts', DEFAULT_CONNECT_RETRY.attempts, 1, 1000) },
    force: parsed.values.force ?? false,
    json: parsed.values.json ?? false,
    timings: parsed.values.timings ?? false,
    appliedBy: value('applied-by')?.text ?? defaultAppliedBy(),
    skipPgmq: parsed.values['skip-pgmq'] ?? false,
    drift: (drift?.text as DriftMode | undefined) ?? DEFAULT_DRIFT,
    converge: (converge?.text as ConvergeMode | undefined) ?? DEFAULT_CONVERGE_MODE,
    allowServerFiles: parsed.values['allow-server-files'] ?? booleanEnv(env, 'MIGRATION_ALLOW_SERVER_FILES'),
  };
}

/** POD_NAMESPACE (the Job sets it from the downward API), named in the kubectl commands the runner prints. */
function podNamespace(env: NodeJS.ProcessEnv): string | undefined {
  const text = env.POD_NAMESPACE?.trim();
  if (!text) return undefined;
  const problem = dns1123LabelProblem(text);
  if (problem) throw usage(`POD_NAMESPACE must be a Kubernetes namespace name: it ${problem}, got "${text}"`);
  return text;
}

/** A true/false environment variable; unset is false, anything else a usage error naming it. */
function booleanEnv(env: NodeJS.ProcessEnv, name: string): boolean {
  const text = env[name]?.trim();
  if (!text || text === 'false') return false;
  if (text === 'true') return true;
  throw usage(`${name} must be true or false, got "${text}"`);
}

/** A duration option ("500ms", "3s", "5m") in milliseconds; a usage error names `source`. */
function parseDuration(text: string, source: string): number {
  try {
    return Duration.parse(text).milliseconds;
  } catch (error) {
    if (!(error instanceof InvalidDurationError)) throw error;
    throw usage(
      error.problem === 'form' ? `${source} must be a duration such as 500ms, 3s or 5m, got "${text}"` : `${source} must be between 1ms and 24h, got "${text}"`,
    );
  }
}

function defaultAppliedBy(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // A container user without a passwd entry has no name; the host still says where it ran.
  }
  return `${user}@${hostname()}`;
}
