/**
 * The runner measured as the Job runs it: a whole `node gpu-dev-db.js apply` process, next to
 * bare Node processes doing the least that applies the same files, and node-pg-migrate's CLI.
 * Each on its own fresh database, interleaved, the order rotating every repetition.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/build/repository';

interface Dirs {
  readonly schemaDir: string;
  readonly fixturesDir: string;
}

export interface WholeProcessOptions {
  readonly runnerPath: string;
  readonly dirs: Dirs;
  /** node-pg-migrate's folder holding the same files, in bundle order. */
  readonly nodePgMigrateDir: string;
  readonly reps: number;
  readonly fresh: () => Promise<string>;
  readonly say: (line?: string) => void;
  readonly stats: (samples: number[]) => { median: number; min: number; max: number };
  readonly fmt: (s: { median: number; min: number; max: number }) => string;
}

/** Bare Node clients: the floor a whole process can reach with `pg` and nothing else. */
const BARE_BATCH = `
const { Client } = require('pg'); const fs = require('fs'); const path = require('path');
const files = process.argv.slice(1).flatMap((d) => fs.readdirSync(d).sort().map((f) => fs.readFileSync(path.join(d, f), 'utf8')));
(async () => { const c = new Client({ connectionString: process.env.DATABASE_URL }); await c.connect();
  await c.query('BEGIN;\\n' + files.join('\\n;\\n') + ';\\nCOMMIT;'); await c.end(); })();`;
const BARE_PER_FILE = `
const { Client } = require('pg'); const fs = require('fs'); const path = require('path');
const files = process.argv.slice(1).flatMap((d) => fs.readdirSync(d).sort().map((f) => fs.readFileSync(path.join(d, f), 'utf8')));
(async () => { for (const sql of files) { const c = new Client({ connectionString: process.env.DATABASE_URL }); await c.connect(); await c.query(sql); await c.end(); } })();`;
const BARE_ONE_QUERY = `
const { Client } = require('pg');
(async () => { const c = new Client({ connectionString: process.env.DATABASE_URL }); await c.connect(); await c.query('SELECT 1'); await c.end(); })();`;

/** Phase → milliseconds, from the runner's `--timings --json` report, per run. */
type Phases = Record<string, number>;

/** Wall time (ms) of one process, and its timings if it reported any; throws with its output if it fails. */
function run(args: readonly string[], url: string, phases?: Phases[]): number {
  const started = performance.now();
  const result = spawnSync(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: url },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const wall = performance.now() - started;
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  if (phases) phases.push((JSON.parse(result.stdout) as { timings: Phases }).timings);
  return wall;
}

export async function wholeProcess(options: WholeProcessOptions): Promise<void> {
  const { runnerPath, dirs, say, stats, fmt } = options;
  const folders = [dirs.schemaDir, dirs.fixturesDir];
  const nodePgMigrate = join(REPO_ROOT, 'node_modules', 'node-pg-migrate', 'bin', 'node-pg-migrate.js');
  // --timings --json: the runner reports its phases; printing them costs it a few microseconds.
  const runner = [runnerPath, 'apply', '--schema-dir', dirs.schemaDir, '--fixtures-dir', dirs.fixturesDir, '--timings', '--json'];
  const approaches: Record<string, { fresh: readonly string[]; again: readonly string[] }> = {
    [RUNNER]: { fresh: runner, again: runner },
    'bare Node client, one batch, one transaction': { fresh: ['-e', BARE_BATCH, ...folders], again: ['-e', BARE_ONE_QUERY] },
    'bare Node client, one connection per file': { fresh: ['-e', BARE_PER_FILE, ...folders], again: ['-e', BARE_ONE_QUERY] },
    "node-pg-migrate's CLI": {
      fresh: [nodePgMigrate, 'up', '-m', options.nodePgMigrateDir, '--check-order', 'false'],
      again: [nodePgMigrate, 'up', '-m', options.nodePgMigrateDir, '--check-order', 'false'],
    },
  };
  const first: Record<string, number[]> = {};
  const again: Record<string, number[]> = {};
  const phases = { fresh: [] as Phases[], again: [] as Phases[] };
  const names = Object.keys(approaches);
  for (let rep = 0; rep < options.reps; rep++) {
    for (const name of [...names.slice(rep % names.length), ...names.slice(0, rep % names.length)]) {
      const url = await options.fresh();
      (first[name] ??= []).push(run(approaches[name].fresh, url, name === RUNNER ? phases.fresh : undefined));
      (again[name] ??= []).push(run(approaches[name].again, url, name === RUNNER ? phases.again : undefined));
    }
  }
  // Where a whole runner process spends its fixed time: Node itself, loading the bundle
  // (with the SQL parser's WebAssembly), then reading, parsing and checking the files.
  const startup: Record<string, number[]> = {};
  for (let rep = 0; rep < options.reps; rep++) {
    (startup['node itself (node -e "")'] ??= []).push(run(['-e', ''], ''));
    (startup['+ load the runner bundle (--help)'] ??= []).push(run([runnerPath, '--help'], ''));
  }
  const baseline = stats(first['bare Node client, one batch, one transaction']).median;
  const onceQuery = stats(again['bare Node client, one batch, one transaction']).median;
  say('## The whole process, as the Job runs it (product bundle)');
  say();
  say('| process | fresh database | ÷ bare batch | re-apply | re-apply ÷ bare connect-and-one-query |');
  say('| --- | --- | --- | --- | --- |');
  for (const name of names) {
    const f = stats(first[name]);
    const a = stats(again[name]);
    say(`| ${name} | ${fmt(f)} | ${(f.median / baseline).toFixed(2)} | ${fmt(a)} | ${(a.median / onceQuery).toFixed(2)} |`);
  }
  say();
  say(
    "The bare clients' re-apply is their least possible work on an applied database: connect and one query. node-pg-migrate re-applies by reading its table and finding nothing to do.",
  );
  say();
  say('| fixed cost of a runner process | median |');
  say('| --- | --- |');
  for (const [name, samples] of Object.entries(startup)) say(`| ${name} | ${fmt(stats(samples))} |`);
  say();
  say("Where the runner's time goes, phase by phase (its own `--timings`, medians; each phase ends at its mark, the first begins at the process's start):");
  say();
  say('| phase | fresh database | re-apply |');
  say('| --- | --- | --- |');
  const phaseNames = [...new Set([...phases.fresh, ...phases.again].flatMap((p) => Object.keys(p)))];
  const median = (runs: Phases[], phase: string) => {
    const samples = runs.map((p) => p[phase]).filter((ms) => ms !== undefined);
    return samples.length ? `${stats(samples).median.toFixed(1)} ms` : '—';
  };
  for (const phase of phaseNames) say(`| ${phase} | ${median(phases.fresh, phase)} | ${median(phases.again, phase)} |`);
  say();
  const ours = { fresh: stats(first[RUNNER]).median, again: stats(again[RUNNER]).median };
  const pgMigrate = stats(first["node-pg-migrate's CLI"]).median;
  const phaseSum = (runs: Phases[], names: readonly string[]) => names.reduce((sum, name) => sum + stats(runs.map((p) => p[name] ?? 0)).median, 0);
  const parser = ['SQL parser started', 'files parsed and checked'];
  const safety = ['session set up', 'migration lock taken', 'history read', 'drift check', 'history tables', 'recorded and committed'];
  const verdict = (ratio: number, target: number) => `${ratio.toFixed(2)}× (${ratio <= target ? 'met' : 'not met'})`;
  say(
    `Targets: fresh ≤ 1.2× the bare batch — ${verdict(ours.fresh / baseline, 1.2)}; below node-pg-migrate's CLI — ${ours.fresh.toFixed(1)} ms vs ${pgMigrate.toFixed(1)} ms (${ours.fresh < pgMigrate ? 'met' : 'not met'}); ` +
      `re-apply ≤ 1.1× the bare connect-and-one-query — ${verdict(ours.again / onceQuery, 1.1)}.`,
  );
  say(
    `What the gap is made of: starting PostgreSQL's parser and parsing the files before connecting (the guarantees need it on every run) take ${phaseSum(phases.fresh, parser).toFixed(1)} ms; ` +
      `the lock, the history, the drift check and the record take ${phaseSum(phases.fresh, safety).toFixed(1)} ms on a fresh database and ${phaseSum(phases.again, safety).toFixed(1)} ms on a re-apply. ` +
      `Without the parser alone the fresh run would be ${((ours.fresh - phaseSum(phases.fresh, parser)) / baseline).toFixed(2)}× and the re-apply ${((ours.again - phaseSum(phases.again, parser)) / onceQuery).toFixed(2)}×; ` +
      `without the parser and those checks, ${((ours.fresh - phaseSum(phases.fresh, [...parser, ...safety])) / baseline).toFixed(2)}× and ${((ours.again - phaseSum(phases.again, [...parser, ...safety])) / onceQuery).toFixed(2)}×. ` +
      'None of them is skipped to meet a figure.',
  );
  say();
}

const RUNNER = 'our runner (bundled, as the Job runs it)';
