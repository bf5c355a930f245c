/**
 * The runner's public face: what the review, the benchmarks and the docs use of it. Everything
 * else in src/runner/ is its own business. The shape of a run is the one the CLI's commands
 * take: `withConnection(target, …, (client) => withMigrationLock(client, …, () => work))`, a
 * session started first (startSession), and printing only in cli/.
 */
export { applyBundle, DEFAULT_LOCK_RETRY, runFile } from './apply';
export { runApply, runPlan } from './commands';
export { Convergence, CONVERGE_RULES, type GeneratedStatement } from './converge';
export { readDeclarations } from './declarations';
export { beginRun, DEFAULT_TIMEOUTS, startSession, type RunTimeouts, type SessionBaseline } from './guard';
export { DEFAULT_LOCK_WAIT, withMigrationLock, type LockWaitPolicy } from './migration-lock';
export { describePlan, planBundle, planExitCode, type Plan } from './plan';
export { conflicts, covers, existingTables, LOCK_MODES, RunObserver, type LockMode, type TableLock } from './table-locks';
export { Timings } from './timings';
