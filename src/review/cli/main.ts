/**
 * `npm run review`: one review of a schema change for a pull request (src/review/). Compares a
 * base (a git ref, default `git merge-base HEAD main`, or a folder) with this working tree and
 * prints Markdown for a PR comment (or --json). Starts an embedded PostgreSQL 18 for the SQL
 * effect only when the bundle changed, and stops it by its own stop, also on failure or Ctrl-C.
 * Exit: 0 pass, warnings or nothing to review; 1 fail (drift, a lint finding, a failing plan, a
 * head synth refuses); 2 bad input (unknown ref, missing folder, bad flag); 3 the review could not run.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../../build/repository';
import { lineLogger } from '../../kernel/log';
import { ReviewInputError } from '../errors';
import { extractCommit, resolveBase, type BaseCommit } from '../git';
import { toJson, toMarkdown } from '../report';
import { reviewChange } from '../review';
import type { SideSpec } from '../sides';
import { scratchPostgres } from './scratch';

const USAGE = `Usage: npm run -s review [-- options] > review.md
  --base REF            git ref to compare with (default: git merge-base HEAD main)
  --base-dir DIR        a folder to compare with instead (a checkout, or one holding database/)
  --head-dir DIR        the folder to review (default: this working tree)
  --head-env NAME=VAL   a setting for the head's synth only (repeatable), e.g. GPU_DEV_API_REPLICAS=3
  --tofu-plan FILE      tofu show -json PLANFILE of the head: the deploy effect as OpenTofu plans it
  --json                the review as JSON instead of Markdown
  --output FILE         write the report to FILE instead of stdout
  -h, --help            this text
Environment: DATABASE_URL also plans the head against that database (read-only, rolled back;
it takes apply's locks while it runs). GPU_DEV_* settings apply to both sides' synth.
Exit: 0 pass, warn or nothing to review; 1 fail; 2 bad input; 3 the review could not run.`;

const log = lineLogger((line) => process.stderr.write(`${line}\n`));
const cleanups: (() => Promise<void> | void)[] = [];

async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (error) {
      log.warn(`clean-up: ${(error as Error).message}`);
    }
  }
}

function headEnv(assignments: readonly string[]): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const assignment of assignments) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/s.exec(assignment);
    if (!match) throw new ReviewInputError(`--head-env ${assignment}: must be NAME=VALUE, e.g. GPU_DEV_API_REPLICAS=3`);
    env[match[1]] = match[2];
  }
  return env;
}

async function main(): Promise<number> {
  const parse = () =>
    parseArgs({
      options: {
        base: { type: 'string' },
        'base-dir': { type: 'string' },
        'head-dir': { type: 'string' },
        'head-env': { type: 'string', multiple: true },
        'tofu-plan': { type: 'string' },
        json: { type: 'boolean' },
        output: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  let values: ReturnType<typeof parse>['values'];
  try {
    ({ values } = parse());
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    if (values.base !== undefined && values['base-dir'] !== undefined) throw new ReviewInputError('give --base or --base-dir, not both');
    const headRoot = resolve(values['head-dir'] ?? REPO_ROOT);
    if (!existsSync(headRoot) || !statSync(headRoot).isDirectory()) throw new ReviewInputError(`--head-dir ${values['head-dir']}: no such folder`);
    const head: SideSpec = { label: values['head-dir'] ? `head ${headRoot}` : 'head (working tree)', root: headRoot, env: headEnv(values['head-env'] ?? []) };
    let base: SideSpec;
    let baseCommit: BaseCommit | undefined;
    if (values['base-dir'] !== undefined) {
      const dir = resolve(values['base-dir']);
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ReviewInputError(`--base-dir ${values['base-dir']}: no such folder`);
      base = { label: `base ${dir}`, root: dir };
    } else {
      baseCommit = resolveBase(headRoot, values.base);
      const folder = mkdtempSync(join(tmpdir(), 'gpu-dev-review-base-'));
      cleanups.push(() => rmSync(folder, { recursive: true, force: true }));
      log.info(`review: base ${baseCommit.ref} is ${baseCommit.summary}; extracting it with git archive`);
      extractCommit(headRoot, baseCommit.commit, join(folder, 'tree'));
      const asked = values.base ?? 'merge-base HEAD main';
      base = {
        label: baseCommit.commit.startsWith(asked) ? `base ${baseCommit.summary}` : `base ${asked} (${baseCommit.summary})`,
        root: join(folder, 'tree'),
      };
    }
    const review = await reviewChange({
      base,
      head,
      ...(baseCommit ? { baseCommit } : {}),
      scratch: () => scratchPostgres((cleanup) => cleanups.push(cleanup)),
      ...(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : {}),
      ...(values['tofu-plan'] ? { tofuPlan: values['tofu-plan'] } : {}),
      log,
    });
    const report = values.json ? toJson(review) : toMarkdown(review);
    if (values.output) {
      mkdirSync(resolve(values.output, '..'), { recursive: true });
      writeFileSync(values.output, report);
    } else process.stdout.write(report);
    log.info(`review: ${review.verdict.line} (exit ${review.verdict.exitCode})`);
    return review.verdict.exitCode;
  } catch (error) {
    if (error instanceof ReviewInputError) {
      log.error(error.message);
      return 2;
    }
    log.error(`the review could not run: ${(error as Error)?.stack ?? String(error)}`);
    return 3;
  } finally {
    await cleanUp();
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log.warn(`${signal}: stopping the scratch PostgreSQL and removing temporary folders`);
    void cleanUp().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

void main().then((code) => {
  process.exitCode = code;
});
