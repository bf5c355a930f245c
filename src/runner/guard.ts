import type { Client, QueryResult } from 'pg';
import { displayName, type ParsedFile } from '../kernel/bundle';
import { ExitCode } from '../kernel/exit-codes';
import { MigrationError } from './errors';
import { HOLDS_MIGRATION_LOCK } from './migration-lock';

/**
 * The run's session, and the guard that keeps every file to it. The rules (sql-rules.ts) refuse
 * what a file says outright; the guard catches what a file does at run time that no parser can
 * see (a DO block, a function): after every file, and before a commit or a plan's rollback, it
 * checks that the run's transaction is still the one it opened, that this session still holds
 * the migration lock and still runs as the user it logged in as. Then it puts the runner's
 * settings and search_path back, since even SET LOCAL lasts until the run's one commit.
 */

export interface RunTimeouts {
  /** `lock_timeout` for every statement: how long one statement may wait for a table lock. */
  readonly lockTimeoutMs: number;
  /** `statement_timeout` for every statement. */
  readonly statementTimeoutMs: number;
  /**
   * How long PostgreSQL keeps a silent runner's session: `idle_in_transaction_session_timeout`
   * and TCP keepalives, so a frozen or cut-off runner's transaction and locks end within it.
   */
  readonly idleTimeoutMs: number;
}

export const DEFAULT_TIMEOUTS: RunTimeouts = { lockTimeoutMs: 3000, statementTimeoutMs: 300_000, idleTimeoutMs: 10_000 };

/** What every file starts from, read back from PostgreSQL once the session is set up. */
export interface SessionBaseline {
  readonly user: string;
  /** The runner's settings as current_setting() prints them ("3s", "\"$user\", public"). */
  readonly settings: Readonly<Record<string, string>>;
  /** The SET LOCAL statements that put the baseline back inside a transaction. */
  readonly restore: string;
}

/** The run's transaction, as opened: its id, to tell it from any other. */
export interface RunTransaction {
  readonly xid: string;
}

/**
 * Sets the run's timeouts on the session, so every statement of every file is bounded, and
 * returns the baseline the guard holds files to. client_connection_check_interval makes
 * PostgreSQL notice a runner that died (kill -9, a deleted pod) within a second;
 * idle_in_transaction_session_timeout and server-side keepalives end the session of a runner
 * that hangs (SIGSTOP, a frozen node, a partition that sends no FIN), freeing its locks.
 */
export async function startSession(client: Client, timeouts: RunTimeouts): Promise<SessionBaseline> {
  const idleSeconds = Math.max(1, Math.round(timeouts.idleTimeoutMs / 2000));
  const settings: [string, number][] = [
    ['lock_timeout', Math.round(timeouts.lockTimeoutMs)],
    ['statement_timeout', Math.round(timeouts.statementTimeoutMs)],
    ['idle_in_transaction_session_timeout', Math.round(timeouts.idleTimeoutMs)],
    ['client_connection_check_interval', 1000],
    ['tcp_keepalives_idle', idleSeconds],
    ['tcp_keepalives_interval', 1],
    ['tcp_keepalives_count', 3],
    ['tcp_user_timeout', Math.round(timeouts.idleTimeoutMs)],
  ];
  const names = [...settings.map(([name]) => name), 'search_path'];
  const results = (await client.query(
    `${settings.map(([name, value]) => `SET ${name} = ${value}`).join('; ')}; ` +
      `SELECT session_user AS "user", ${names.map((name) => `current_setting('${name}') AS "${name}"`).join(', ')}`,
  )) as unknown as QueryResult[];
  const row = results[results.length - 1].rows[0] as Record<string, string>;
  const baseline = Object.fromEntries(names.map((name) => [name, row[name]]));
  return {
    user: row.user,
    settings: baseline,
    restore: [...settings.map(([name]) => `SET LOCAL ${name} = ${quote(baseline[name])}`), 'SET LOCAL search_path TO DEFAULT'].join('; '),
  };
}

/** BEGIN, the baseline, and the transaction's id, in one round trip. */
export async function beginRun(client: Client, baseline: SessionBaseline): Promise<RunTransaction> {
  const results = (await client.query(`BEGIN; ${baseline.restore}; SELECT pg_current_xact_id()::text AS xid`)) as unknown as QueryResult[];
  return { xid: results[results.length - 1].rows[0].xid };
}

interface GuardRow {
  user: string;
  current: string;
  xid: string | null;
  locked: boolean;
  [setting: string]: unknown;
}

const GUARD_QUERY = `SELECT session_user AS "user", current_user AS current, pg_current_xact_id_if_assigned()::text AS xid, ${HOLDS_MIGRATION_LOCK} AS locked`;

/**
 * After `file` ran inside the run's transaction (or, with no file, before commit or rollback):
 * checks the guard and puts the baseline back (plus what the file set locally). `rolledBack`
 * says what happens to the work when the guard fails while the transaction is still ours.
 */
export async function guardTransaction(
  client: Client,
  baseline: SessionBaseline,
  run: RunTransaction,
  file: ParsedFile | undefined,
  rolledBack: string,
): Promise<void> {
  const extra = (file?.localSettings ?? []).filter((name) => !(name in baseline.settings)).map((name) => `SET LOCAL ${name} TO DEFAULT`);
  const results = (await client.query([GUARD_QUERY, baseline.restore, ...extra].join('; '))) as unknown as QueryResult[];
  const row = results[0].rows[0] as GuardRow;
  const after = file ? `after ${displayName(file)} ran` : 'before the end of the run';
  if (row.xid !== run.xid) {
    throw new MigrationError(
      `${after}, the run's transaction was no longer open: something in ${file ? 'that file' : 'the run'} ended it (a COMMIT or ROLLBACK the rules could not see, e.g. in dynamic SQL). ` +
        'What ran in it before may be committed: the database is in an unknown state, NOT rolled back. ' +
        'Check with gpu-dev-db status and plan, remove the transaction control, then run again',
      ExitCode.guardFailed,
    );
  }
  failUnlessSessionIntact(row, baseline, after, rolledBack);
}

/** After a no-transaction file: the session must still be the run's, as it was set up. */
export async function guardSession(client: Client, baseline: SessionBaseline, file: ParsedFile): Promise<void> {
  const names = Object.keys(baseline.settings);
  const { rows } = await client.query<GuardRow>(`${GUARD_QUERY}, ${names.map((name) => `current_setting('${name}') AS "${name}"`).join(', ')}`);
  const after = `after ${displayName(file)} ran`;
  const settingsChanged = names.filter((name) => rows[0][name] !== baseline.settings[name]);
  const stays = 'it ran outside a transaction: its statements stay applied; files after it did not run';
  if (settingsChanged.length > 0) {
    throw new MigrationError(
      `${after}, the session's ${settingsChanged.map((n) => `${n} was ${rows[0][n]} instead of ${baseline.settings[n]}`).join(', ')}: ` +
        `the file changed the runner's own settings for every later file; ${stays}. Use SET LOCAL inside a transactional file instead`,
      ExitCode.guardFailed,
    );
  }
  failUnlessSessionIntact(rows[0], baseline, after, stays);
}

function failUnlessSessionIntact(row: GuardRow, baseline: SessionBaseline, after: string, rolledBack: string): void {
  if (!row.locked) {
    throw new MigrationError(
      `${after}, this runner no longer held the migration lock (something released it, e.g. pg_advisory_unlock_all() or DISCARD ALL in dynamic SQL): ` +
        `another runner may have started. ${capitalize(rolledBack)}. Remove what releases the lock, then run again`,
      ExitCode.guardFailed,
    );
  }
  if (row.user !== baseline.user || row.current !== baseline.user) {
    throw new MigrationError(
      `${after}, the session ran as ${row.current} (session user ${row.user}) instead of ${baseline.user}: something changed the role (SET ROLE or SET SESSION AUTHORIZATION in dynamic SQL), ` +
        `so later objects and the runner's history would belong to another role. ${capitalize(rolledBack)}. Remove the role change, then run again`,
      ExitCode.guardFailed,
    );
  }
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function quote(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
