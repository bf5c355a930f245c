import type { ClientBase } from 'pg';

/**
 * What a run does to tables other sessions use: the table locks its own backend holds and the
 * tables it rewrites, read from PostgreSQL inside the run's transaction (pg_locks, pg_class).
 * `plan --observe` takes a snapshot after every file, so a reviewer sees which file takes which
 * lock on which existing table, and how long the transaction holds it.
 */

/** PostgreSQL's table lock modes as pg_locks names them, in PostgreSQL's own order (LOCKMODE 1-8). */
export const LOCK_MODES = [
  'AccessShareLock',
  'RowShareLock',
  'RowExclusiveLock',
  'ShareUpdateExclusiveLock',
  'ShareLock',
  'ShareRowExclusiveLock',
  'ExclusiveLock',
  'AccessExclusiveLock',
] as const;
export type LockMode = (typeof LOCK_MODES)[number];

/** PostgreSQL's conflict table (documentation, "Table-Level Lock Modes"): the modes each one waits for and blocks. */
const CONFLICTS: Readonly<Record<LockMode, readonly LockMode[]>> = {
  AccessShareLock: ['AccessExclusiveLock'],
  RowShareLock: ['ExclusiveLock', 'AccessExclusiveLock'],
  RowExclusiveLock: ['ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'],
  ShareUpdateExclusiveLock: ['ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'],
  ShareLock: ['RowExclusiveLock', 'ShareUpdateExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'],
  ShareRowExclusiveLock: ['RowExclusiveLock', 'ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'],
  ExclusiveLock: ['RowShareLock', 'RowExclusiveLock', 'ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'],
  AccessExclusiveLock: [...LOCK_MODES],
};

/** Whether a session holding `held` makes a session asking for `wanted` wait. */
export function conflicts(held: LockMode, wanted: LockMode): boolean {
  return CONFLICTS[held].includes(wanted);
}

/** Whether holding `held` makes everyone wait that holding `other` would (SHARE ROW EXCLUSIVE covers SHARE; SHARE does not cover ROW EXCLUSIVE, which also stops a second SHARE). */
export function covers(held: LockMode, other: LockMode): boolean {
  return CONFLICTS[other].every((mode) => CONFLICTS[held].includes(mode));
}

export interface TableLock {
  /** The table as regclass prints it (schema-qualified only when not on the search_path). */
  readonly table: string;
  readonly mode: LockMode;
}

/** A table as it was when the run's transaction began: only such tables can make anyone else wait. */
export interface ExistingTable {
  readonly oid: number;
  readonly name: string;
  readonly relfilenode: number;
}

/** Ordinary, partitioned tables and materialized views outside PostgreSQL's own schemas. */
export async function existingTables(client: ClientBase): Promise<ExistingTable[]> {
  const { rows } = await client.query<{ oid: number; name: string; relfilenode: string }>(
    `SELECT c.oid::int AS oid, c.oid::regclass::text AS name, c.relfilenode::text AS relfilenode
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
      ORDER BY 2`,
  );
  return rows.map((r) => ({ oid: r.oid, name: r.name, relfilenode: Number(r.relfilenode) }));
}

export interface TableSnapshot {
  /** Granted locks of this backend on the tables, in LOCK_MODES order per table. */
  readonly locks: readonly TableLock[];
  /** relfilenode per table oid now (a rewrite gives a table a new file). */
  readonly relfilenodes: ReadonlyMap<number, number>;
}

/** This backend's locks on `tables` and their relfilenodes now, in one query (inside the run's transaction). */
async function snapshotTables(client: ClientBase, tables: readonly ExistingTable[]): Promise<TableSnapshot> {
  const { rows } = await client.query<{ oid: number; name: string; relfilenode: string; modes: string[] | null }>(
    `SELECT c.oid::int AS oid, c.oid::regclass::text AS name, c.relfilenode::text AS relfilenode,
            (SELECT array_agg(l.mode::text) FROM pg_locks l
              WHERE l.locktype = 'relation' AND l.relation = c.oid AND l.pid = pg_backend_pid() AND l.granted
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())) AS modes
       FROM pg_class c WHERE c.oid = ANY ($1::oid[])`,
    [tables.map((t) => t.oid)],
  );
  const locks: TableLock[] = [];
  for (const row of [...rows].sort((a, b) => a.name.localeCompare(b.name))) {
    const held = new Set(row.modes ?? []);
    for (const mode of LOCK_MODES) if (held.has(mode)) locks.push({ table: row.name, mode });
  }
  return { locks, relfilenodes: new Map(rows.map((r) => [r.oid, Number(r.relfilenode)])) };
}

/** What one file of a run did to the tables that existed before the run. */
export interface FileObservation {
  /** `schema/002_reservations.sql` */
  readonly file: string;
  /** Milliseconds from the run's BEGIN to the start of this file. */
  readonly startedMs: number;
  readonly durationMs: number;
  /** Locks held after this file, the earlier files' included: a lock lasts until the transaction ends. */
  readonly heldLocks: readonly TableLock[];
  /** The locks this file took that the files before it did not hold. */
  readonly newLocks: readonly TableLock[];
  /** Tables this file gave a new relfilenode: rewritten (ALTER COLUMN … TYPE, a volatile DEFAULT, CLUSTER) or truncated. */
  readonly rewrites: readonly string[];
}

export interface RunObservation {
  readonly files: readonly FileObservation[];
  /** Milliseconds from BEGIN to the end of the run's work (before its commit or rollback): how long the last lock is held. */
  readonly transactionMs: number;
}

/**
 * Collects FileObservations inside one transaction: `start` after BEGIN, `file` after every
 * file (the caller times it), `finish` before COMMIT or ROLLBACK.
 */
export class RunObserver {
  private tables: readonly ExistingTable[] = [];
  private previous: TableSnapshot = { locks: [], relfilenodes: new Map() };
  private began = 0;
  private readonly files: FileObservation[] = [];

  /** `only`: which of the tables there are now count as existing (default: all of them). */
  async start(client: ClientBase, only: (table: ExistingTable) => boolean = () => true): Promise<void> {
    this.began = performance.now();
    this.tables = (await existingTables(client)).filter(only);
    this.previous = { locks: [], relfilenodes: new Map(this.tables.map((t) => [t.oid, t.relfilenode])) };
    this.files.length = 0;
  }

  /** Milliseconds since `start`: when a file begins. */
  elapsed(): number {
    return performance.now() - this.began;
  }

  async file(client: ClientBase, file: string, startedMs: number, durationMs: number): Promise<void> {
    const now = await snapshotTables(client, this.tables);
    const held = new Set(this.previous.locks.map(key));
    const rewrites = this.tables
      .filter((t) => now.relfilenodes.get(t.oid) !== undefined && now.relfilenodes.get(t.oid) !== this.previous.relfilenodes.get(t.oid))
      .map((t) => t.name);
    this.files.push({ file, startedMs, durationMs, heldLocks: now.locks, newLocks: now.locks.filter((lock) => !held.has(key(lock))), rewrites });
    this.previous = now;
  }

  finish(): RunObservation {
    return { files: [...this.files], transactionMs: this.elapsed() };
  }
}

const key = (lock: TableLock) => `${lock.table}\u0000${lock.mode}`;
