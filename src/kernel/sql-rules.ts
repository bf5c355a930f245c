import type { Node } from 'libpg-query';
import type { Statement } from './sql-split';

/**
 * Statements a bundle file may not contain, because they would break what the runner promises:
 * one transaction that commits or rolls back whole, a read-only plan, one runner at a time
 * (the migration lock), and the runner's timeouts, search_path and role for every file.
 * Each refusal says what to write instead. Checked on the parse tree before anything connects;
 * what a string (a DO block, a function body) does at run time is caught by the run's guard.
 *
 * Allowed: SET LOCAL of any setting but the role (the runner restores each one after the file
 * that set it, so it lasts for that file only), SET CONSTRAINTS, set_config(..., true).
 */

/** Settings the runner sets on its session; `SET LOCAL` of them is restored after the file. */
const RUNNER_SETTINGS = [
  'lock_timeout',
  'statement_timeout',
  'idle_in_transaction_session_timeout',
  'client_connection_check_interval',
  'tcp_keepalives_idle',
  'tcp_keepalives_interval',
  'tcp_keepalives_count',
  'tcp_user_timeout',
  'search_path',
] as const;

const IDENTITY_SETTINGS = new Set(['role', 'session_authorization']);
const UNLOCK_FUNCTIONS = new Set(['pg_advisory_unlock', 'pg_advisory_unlock_all', 'pg_advisory_unlock_shared']);

const IN_ONE_TRANSACTION =
  "every file already runs in the run's one transaction (schema and fixtures commit together, or not at all). " +
  'Remove it; a statement that cannot run in a transaction (CREATE INDEX CONCURRENTLY) goes in a file of its own whose first line is "-- migration: no-transaction"';

export interface FileInspection {
  /** Settings the file sets with SET LOCAL or set_config(..., true): restored after it. */
  readonly localSettings: Set<string>;
  /** Let COPY to or from a server file or a program, and the server-file functions, through. @default false */
  readonly allowServerFiles?: boolean;
}

/** Functions that read or write files on the database server, or list its folders. */
const SERVER_FILE_FUNCTIONS = new Set(['pg_read_file', 'pg_read_binary_file', 'pg_ls_dir', 'pg_stat_file', 'lo_import', 'lo_export', 'pg_file_write']);

const SERVER_FILES_WHY =
  "migrations are reviewed as SQL, and this reaches past it, into the database server's files or shell, with what the server's user can do there. " +
  "Ship the data as INSERT statements in a fixture file; if a migration really must, set MIGRATION_ALLOW_SERVER_FILES=true (--allow-server-files; the stack's migrationAllowServerFiles)";

/** Why `statement` may not be in a bundle file, or undefined when it may. Records local settings. */
export function refusal(statement: Statement, tree: Node, inspection: FileInspection): string | undefined {
  const words = leadingWords(statement.text);
  if ('TransactionStmt' in tree) return `${words} is not allowed: ${IN_ONE_TRANSACTION}`;
  if ('DiscardStmt' in tree) {
    return `${words} is not allowed: it throws away the runner's session state, and DISCARD ALL also releases the migration lock, letting a second runner in. Remove it`;
  }
  if ('VariableSetStmt' in tree) {
    const set = tree.VariableSetStmt;
    const name = set.name ?? '';
    if (IDENTITY_SETTINGS.has(name)) return identityRefusal(words);
    if (set.kind === 'VAR_RESET_ALL') {
      return "RESET ALL is not allowed: it would reset the runner's lock_timeout, statement_timeout and search_path for every later file. Reset only what this file set, with SET LOCAL name TO DEFAULT";
    }
    if (set.kind === 'VAR_SET_MULTI') {
      return `${words} is not allowed: the run's transaction belongs to the runner, and its characteristics apply to every file. Remove it`;
    }
    if (!set.is_local) return sessionSetRefusal(words, name);
    inspection.localSettings.add(name);
  }
  if ('CopyStmt' in tree && tree.CopyStmt.is_from && !tree.CopyStmt.filename) {
    return 'COPY ... FROM STDIN is not allowed: the runner sends no data after it (psql and pg_dump do). Write the rows as INSERT statements (pg_dump --inserts)';
  }
  if ('CopyStmt' in tree && tree.CopyStmt.filename && !inspection.allowServerFiles) {
    const copy = tree.CopyStmt;
    const what = `COPY ... ${copy.is_from ? 'FROM' : 'TO'} ${copy.is_program ? 'PROGRAM' : 'a server file'} ('${copy.filename}')`;
    return `${what} is not allowed: ${copy.is_program ? 'it runs a shell command on the database server' : `it ${copy.is_from ? 'reads' : 'writes'} a file on the database server`}; ${SERVER_FILES_WHY}`;
  }
  return refusalInCalls(tree, inspection);
}

function identityRefusal(words: string): string {
  return (
    `${words} is not allowed: the tables this run creates, and the runner's own history, would belong to another role, and the role would stay for every later file. ` +
    'Grant the migration user what it needs, or change owners explicitly with ALTER ... OWNER TO'
  );
}

function sessionSetRefusal(words: string, name: string): string {
  const whose = (RUNNER_SETTINGS as readonly string[]).includes(name)
    ? ` ${name} is the runner's own setting, and changing it for the session would leave every later file without it.`
    : '';
  return (
    `${words} changes the setting for the whole session, so it would stay in force for every later file and the runner's own statements.${whose} ` +
    `Write SET LOCAL ${name || 'name'} ... instead: the runner restores the setting after this file`
  );
}

/** Function calls anywhere in the statement: advisory unlocks and session-wide set_config. */
function refusalInCalls(tree: Node, inspection: FileInspection): string | undefined {
  for (const call of functionCalls(tree)) {
    const name = (call.funcname ?? []).map((part) => ('String' in part ? part.String.sval : '')).pop() ?? '';
    if (SERVER_FILE_FUNCTIONS.has(name) && !inspection.allowServerFiles) {
      return `${name}() is not allowed: it reaches files on the database server; ${SERVER_FILES_WHY}`;
    }
    if (UNLOCK_FUNCTIONS.has(name)) {
      return `${name}() is not allowed: it can release the runner's migration lock, letting a second runner apply another bundle at the same time. Release only locks this file took, with a transaction-level lock (pg_advisory_xact_lock) that ends with the run`;
    }
    if (name !== 'set_config') continue;
    const [setting, , isLocal] = call.args ?? [];
    const settingName = setting && 'A_Const' in setting ? setting.A_Const.sval?.sval : undefined;
    if (settingName && IDENTITY_SETTINGS.has(settingName)) return identityRefusal(`set_config('${settingName}', ...)`);
    const local = isLocal && 'A_Const' in isLocal && isLocal.A_Const.boolval?.boolval === true;
    if (!local) {
      return `set_config(${settingName ? `'${settingName}'` : '...'}, ..., false) changes the setting for the whole session, so it would stay in force for every later file. Pass true as the third argument: the runner restores the setting after this file`;
    }
    if (settingName) inspection.localSettings.add(settingName);
    else return 'set_config() with a setting name that is not a literal cannot be restored after the file. Name the setting literally';
  }
  return undefined;
}

type FuncCall = Extract<Node, { FuncCall: unknown }>['FuncCall'];

/** Every FuncCall node in a parse tree, depth first. */
function functionCalls(tree: unknown, found: FuncCall[] = []): FuncCall[] {
  if (Array.isArray(tree)) {
    for (const item of tree) functionCalls(item, found);
  } else if (tree && typeof tree === 'object') {
    for (const [key, value] of Object.entries(tree)) {
      if (key === 'FuncCall') found.push(value as FuncCall);
      if (value && typeof value === 'object') functionCalls(value, found);
    }
  }
  return found;
}

/** "BEGIN", "START TRANSACTION", "SET ROLE admin": the statement as written, up to its value. */
function leadingWords(text: string): string {
  return text
    .split(/=|\sTO\s/i, 1)[0]
    .trim()
    .split(/\s+/)
    .slice(0, 4)
    .join(' ');
}
