import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { ExitCode, ExitError } from './exit-codes';
import { refusal, type FileInspection } from './sql-rules';
import { lineAndColumn, loadSqlParser, splitStatements, SqlSyntaxError, type Statement } from './sql-split';

/**
 * The one module that decides which SQL files make up a bundle, in which order, and the
 * bundle's hash. The CDKTF stack names the Job with it and the runner recomputes it from what
 * is mounted, so the two can never disagree.
 */

const FOLDERS = ['schema', 'fixtures'] as const;
export type Folder = (typeof FOLDERS)[number];

/** `NNN_name.sql`: three or more digits, `_`, a lower-case name. */
const FILE_NAME_PATTERN = /^(\d{3,})_([a-z0-9][a-z0-9_]*)\.sql$/;
/** First line that opts a file out of the run's transaction (e.g. CREATE INDEX CONCURRENTLY). */
const NO_TRANSACTION_MARKER = '-- migration: no-transaction';
const HASH_FORMAT = 'gpu-dev-schema-bundle/v1';

export interface BundleFile {
  readonly folder: Folder;
  readonly name: string;
  /** Where it was read from, for messages. */
  readonly path: string;
  readonly number: number;
  /** The file's exact bytes: what is hashed and what ConfigMaps carry. */
  readonly bytes: Buffer;
  readonly sql: string;
  /** False when the first line is the no-transaction marker. */
  readonly transactional: boolean;
  /** sha256 hex of the bytes, recorded in the history per file. */
  readonly checksum: string;
}

/** A file read by PostgreSQL's parser and checked against the runner's rules. */
export interface ParsedFile extends BundleFile {
  readonly statements: readonly Statement[];
  /** Settings the file sets for itself (SET LOCAL): the runner restores them after it. */
  readonly localSettings: readonly string[];
}

export interface Bundle<File extends BundleFile = BundleFile> {
  readonly files: readonly File[];
  /** sha256 hex over every file (folder, name, bytes) in order, the runner's digest and, when given, its image. */
  readonly hash: string;
  readonly runnerDigest: string;
  readonly runnerImage?: string;
}

export interface BundleSources {
  readonly schemaDir: string;
  readonly fixturesDir: string;
  /** Identifies the runner code, so a runner change re-runs the Job (sha256 of its bytes). */
  readonly runnerDigest: string;
  /**
   * The image the Job runs the runner on, so a new image re-runs the Job under a new name.
   * @default none: not part of the hash (a runner run by hand, outside a Job)
   */
  readonly runnerImage?: string;
}

export type ParsedBundle = Bundle<ParsedFile>;

/** Parse trees the drift check reads; other statements keep none (a large fixture file's would not fit). */
const DECLARING_KINDS: ReadonlySet<string> = new Set(['CreateStmt', 'AlterTableStmt', 'IndexStmt', 'RenameStmt', 'DropStmt']);

/**
 * Reads, validates and orders both folders, and hashes them, without parsing SQL (synchronous:
 * the CDKTF stack names the Job with it). Throws a bad-input ExitError naming the file.
 */
export function readBundle(sources: BundleSources): Bundle {
  const files = [...readFolder('schema', sources.schemaDir), ...readFolder('fixtures', sources.fixturesDir)];
  const { runnerDigest, runnerImage } = sources;
  return { files, hash: bundleHash(files, runnerDigest, runnerImage), runnerDigest, ...(runnerImage !== undefined ? { runnerImage } : {}) };
}

/** readBundle, then parseBundle: everything checked that can be before connecting. */
export async function loadBundle(sources: BundleSources): Promise<ParsedBundle> {
  return parseBundle(readBundle(sources));
}

/**
 * Splits every file into statements with PostgreSQL's own parser and refuses, naming file, line
 * and column, a file the parser rejects, a file with no statement, and statements that would
 * break the runner's guarantees (sql-rules.ts).
 */
export async function parseBundle(bundle: Bundle, options: ParseOptions = {}): Promise<ParsedBundle> {
  await startSqlParser();
  return { ...bundle, files: bundle.files.map((file) => parseFile(file, options)) };
}

export interface ParseOptions {
  /** Let COPY to or from a server file or program, and pg_read_file and its kin, through (sql-rules.ts). @default false */
  readonly allowServerFiles?: boolean;
}

/** Starts PostgreSQL's parser (once per process); parseBundle does it too. */
export async function startSqlParser(): Promise<void> {
  try {
    await loadSqlParser();
  } catch (cause) {
    throw new ExitError(`the SQL parser (libpg-query WebAssembly) failed to load: ${(cause as Error).message}`, ExitCode.internal, { cause });
  }
}

function parseFile(file: BundleFile, options: ParseOptions): ParsedFile {
  const where = (line: number, column: number) => `${file.path}:${line}:${column}`;
  const inspection: FileInspection = { localSettings: new Set(), allowServerFiles: options.allowServerFiles };
  let statements: Statement[];
  try {
    statements = splitStatements(file.sql, {
      keepTrees: DECLARING_KINDS,
      inspect: (statement, tree) => {
        const refused = refusal(statement, tree, inspection);
        if (refused) throw badInput(`${where(statement.line, statement.column)}: ${refused}`);
      },
    });
  } catch (error) {
    if (!(error instanceof SqlSyntaxError)) throw error;
    throw new ExitError(
      `${where(error.line, error.column)}: PostgreSQL's parser refuses this file: ${error.message}${psqlHint(file.sql, error.line)}`,
      ExitCode.badInput,
      { cause: error },
    );
  }
  if (statements.length === 0) {
    throw badInput(`${file.path}: is empty (no SQL statement); delete it or add its statements`);
  }
  return { ...file, statements, localSettings: [...inspection.localSettings] };
}

/** psql meta-commands (\connect, \set, \i) are the commonest non-SQL line in a .sql file. */
function psqlHint(sql: string, line: number): string {
  return /^\s*\\/.test(sql.split('\n', line)[line - 1] ?? '') ? ' (a line starting with a backslash is a psql meta-command, not SQL: remove it)' : '';
}

function bundleHash(files: readonly Pick<BundleFile, 'folder' | 'name' | 'bytes'>[], runnerDigest: string, runnerImage?: string): string {
  const hash = createHash('sha256').update(`${HASH_FORMAT}\n`);
  for (const file of files) {
    hash.update(`${file.folder}\0${file.name}\0${file.bytes.length}\0`).update(file.bytes);
  }
  hash.update(`runner\0${runnerDigest}`);
  if (runnerImage !== undefined) hash.update(`\0image\0${runnerImage}`);
  return hash.digest('hex');
}

export function sha256Hex(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function badInput(message: string): ExitError {
  return new ExitError(message, ExitCode.badInput);
}

function readFolder(folder: Folder, dir: string): BundleFile[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (cause) {
    const reason = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw new ExitError(`${folder} folder ${dir} ${reason}`, ExitCode.badInput, { cause });
  }
  const byNumber = new Map<number, string>();
  const files: BundleFile[] = [];
  // The kubelet mounts a ConfigMap with internal `..data` / `..<timestamp>` entries, not files of
  // ours; only where that layout is (a `..data` link) are they left out, so anywhere else a file
  // named `..005_x.sql` is refused below rather than silently skipped.
  const kubeletMount = entries.includes('..data');
  for (const name of entries.filter((entry) => !(kubeletMount && entry.startsWith('..'))).sort()) {
    const path = join(dir, name);
    const match = FILE_NAME_PATTERN.exec(name);
    if (name.startsWith('..')) {
      throw badInput(
        `${path}: a name starting with ".." is what the kubelet calls its own entries in a ConfigMap mount, so inside a pod the runner would skip this file; rename it to NNN_name.sql`,
      );
    }
    if (!match) {
      throw badInput(`${path}: file name does not match NNN_name.sql (three or more digits, "_", a lower-case name of a-z 0-9 _, ".sql"); rename or remove it`);
    }
    checkInsideFolder(dir, path);
    if (!statSync(path).isFile()) throw badInput(`${path}: is not a regular file`);
    const number = Number(match[1]);
    const clash = byNumber.get(number);
    if (clash) {
      throw badInput(`${path}: number ${match[1]} is already used by ${join(dir, clash)}; give each file its own number`);
    }
    byNumber.set(number, name);
    files.push(readSqlFile(folder, dir, name, number));
  }
  return files.sort((a, b) => a.number - b.number);
}

/**
 * A symbolic link must resolve to a file inside the folder (the kubelet's ConfigMap layout,
 * name -> ..data/name, does); anything else is refused before a byte of it is read.
 */
function checkInsideFolder(dir: string, path: string): void {
  if (!lstatSync(path).isSymbolicLink()) return;
  let target: string;
  try {
    target = realpathSync(path);
  } catch (cause) {
    throw new ExitError(`${path}: is a symbolic link to something that does not exist; fix or remove the link`, ExitCode.badInput, { cause });
  }
  const inside = relative(realpathSync(dir), target);
  if (inside === '' || inside.startsWith(`..${sep}`) || inside === '..' || inside.startsWith(sep)) {
    throw badInput(`${path}: is a symbolic link to ${target}, outside the folder; bundle files must be inside it (nothing of the target was read)`);
  }
}

function readSqlFile(folder: Folder, dir: string, name: string, number: number): BundleFile {
  const path = join(dir, name);
  const bytes = readFileSync(path);
  const invalidAt = firstInvalidUtf8Byte(bytes);
  if (invalidAt >= 0) {
    const line = bytes.subarray(0, invalidAt).toString('utf8').split('\n').length;
    throw badInput(
      `${path}: line ${line} holds bytes that are not UTF-8 (byte offset ${invalidAt}, value 0x${bytes[invalidAt].toString(16).padStart(2, '0')}); save the file as UTF-8`,
    );
  }
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    throw badInput(`${path}: starts with a UTF-8 byte-order mark, which PostgreSQL reads as text; save it without one`);
  }
  const sql = bytes.toString('utf8');
  const nul = sql.indexOf('\0');
  if (nul >= 0) throw badInput(`${path}: line ${lineAndColumn(sql, nul).line} contains a NUL byte`);
  const firstLine = sql.split('\n', 1)[0].trimEnd();
  return {
    folder,
    name,
    path,
    number,
    bytes,
    sql,
    transactional: firstLine !== NO_TRANSACTION_MARKER,
    checksum: sha256Hex(bytes),
  };
}

/** Offset of the first byte that breaks UTF-8, or -1 when the buffer is valid UTF-8. */
function firstInvalidUtf8Byte(bytes: Buffer): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    const length = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (length === 0 || i + length > bytes.length) return i;
    for (let k = 1; k < length; k++) {
      if ((bytes[i + k] & 0xc0) !== 0x80) return i;
    }
    // Overlong 3/4-byte forms, UTF-16 surrogates and code points above U+10FFFF.
    if (length === 3 && ((b === 0xe0 && bytes[i + 1] < 0xa0) || (b === 0xed && bytes[i + 1] >= 0xa0))) return i;
    if (length === 4 && ((b === 0xf0 && bytes[i + 1] < 0x90) || (b === 0xf4 && bytes[i + 1] >= 0x90))) return i;
    i += length;
  }
  return -1;
}

/** `schema/001_users_and_keys.sql`: how files are named in logs, history and ConfigMaps. */
export function displayName(file: Pick<BundleFile, 'folder' | 'name'>): string {
  return `${file.folder}/${file.name}`;
}
