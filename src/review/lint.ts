import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from '../build/repository';

/**
 * squawk (the squawk-cli devDependency) over the SQL files a change touches, with the same
 * configuration `npm run lint:sql` uses, so a finding here is one CI's lint step fails on.
 */

interface LintFinding {
  /** Relative to the folder squawk ran in (the head's project folder). */
  readonly file: string;
  /** 1-based (squawk's JSON counts from 0). */
  readonly line: number;
  readonly column: number;
  readonly rule: string;
  /** squawk's level: `Warning` for a rule, `Error` for SQL it cannot parse. */
  readonly level: string;
  readonly message: string;
  readonly help?: string;
}

export interface LintResult {
  /** The files linted, relative to `cwd`. */
  readonly files: readonly string[];
  readonly findings: readonly LintFinding[];
  /** squawk's version line. */
  readonly tool: string;
}

const SQUAWK = join(REPO_ROOT, 'node_modules', '.bin', 'squawk');
const LINT_TIMEOUT_MS = 60_000;

/** Lints `files` with squawk run in `cwd` and `config`; squawk failing to run or answering no JSON is an error, never "no findings". */
export function lintSql(files: readonly string[], options: { cwd: string; config: string }): LintResult {
  const shown = files.map((file) => relative(options.cwd, file) || file);
  const tool = run(['--version'], options.cwd).stdout.trim();
  if (files.length === 0) return { files: [], findings: [], tool };
  if (!existsSync(options.config)) throw new Error(`squawk's configuration ${options.config} does not exist`);
  const result = run(['--config', options.config, '--reporter', 'json', ...shown], options.cwd);
  // squawk exits 1 when it has findings; anything else but 0 is squawk failing.
  if (result.status !== 0 && result.status !== 1) throw new Error(`squawk exited ${result.status}: ${result.stderr.trim() || result.stdout.trim()}`);
  let raw: unknown;
  try {
    raw = JSON.parse(result.stdout.trim() || '[]');
  } catch (cause) {
    throw new Error(`squawk's --reporter json output is not JSON: ${result.stdout.slice(0, 200)}`, { cause });
  }
  if (!Array.isArray(raw)) throw new Error(`squawk's --reporter json output is not a list: ${result.stdout.slice(0, 200)}`);
  const findings = raw.map((f: any) => ({
    file: relative(options.cwd, join(options.cwd, String(f.file))),
    line: Number(f.line) + 1,
    column: Number(f.column) + 1,
    rule: String(f.rule_name),
    level: String(f.level),
    message: String(f.message),
    ...(f.help ? { help: String(f.help) } : {}),
  }));
  return { files: shown, findings, tool };
}

function run(args: readonly string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(SQUAWK, args, { cwd, encoding: 'utf8', timeout: LINT_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
  if (result.error) {
    const timedOut = (result.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
    throw new Error(
      `squawk (${SQUAWK}) ${timedOut ? `did not finish within ${LINT_TIMEOUT_MS / 1000}s` : `could not run: ${result.error.message} (npm ci installs it: squawk-cli)`}`,
      { cause: result.error },
    );
  }
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
