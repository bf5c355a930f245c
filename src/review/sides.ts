import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { linkNodeModules, REPO_ROOT } from '../build/repository';
import { readBundle, type Bundle } from '../kernel/bundle';
import { ExitError } from '../kernel/exit-codes';
import { loadStackConfig } from '../stack/config';
import { migrationOf, readStackJson, type StackJson } from './stack-diff';
import { cdktfContext, synthesize } from '../stack/synth';
import { InvalidValueError } from '../stack/validation';
import { ReviewInputError } from './errors';

/**
 * One side of a review (the base or the head): a project folder, synthesized. A folder whose
 * code is this checkout's (or that holds only database/) is synthesized here, in-process, from its
 * database folders and its cdktf.json; a folder whose code differs (an older commit whose stack
 * or runner changed since) is synthesized by its own code, `node --import tsx main.ts` in it,
 * with this checkout's node_modules hard-linked in: the Job name depends on the runner's bytes,
 * so only its own code gives a base's real Job name.
 */

export interface SideSpec {
  /** How the report names it: `base origin/main (abc1234 …)`, `head (working tree)`. */
  readonly label: string;
  /** The project folder. */
  readonly root: string;
  /** @default <root>/database/schema */
  readonly schemaDir?: string;
  /** @default <root>/database/fixtures */
  readonly fixturesDir?: string;
  /** Its synth's environment (GPU_DEV_* settings, CDKTF_CONTEXT_JSON). @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface PreparedSide {
  readonly label: string;
  readonly root: string;
  readonly schemaDir: string;
  readonly fixturesDir: string;
  /** Which code synthesized it. */
  readonly synthesizedBy: 'this checkout' | 'its own code';
  /** Why synth refused it, in its own words; then there is no stack. */
  readonly refused?: string;
  readonly stackFile?: string;
  readonly stack?: StackJson;
  readonly jobName?: string;
  readonly bundleHash?: string;
  /** Its SQL files, hashed with its own runner's digest. */
  readonly bundle?: Bundle;
  /** Anything the reader should know about how this side was read. */
  readonly notes: readonly string[];
}

/** What the code that synthesizes a project is made of: when these bytes match this checkout's, its synth gives the same output. */
const CODE = ['src', 'main.ts', 'package.json', 'package-lock.json', 'tsconfig.json'];

const SYNTH_TIMEOUT_MS = 300_000;

/** Checks that the side's folders exist; a missing one is a ReviewInputError naming it. */
export function checkSide(spec: SideSpec): { root: string; schemaDir: string; fixturesDir: string } {
  const root = resolve(spec.root);
  const schemaDir = resolve(spec.schemaDir ?? join(root, 'database', 'schema'));
  const fixturesDir = resolve(spec.fixturesDir ?? join(root, 'database', 'fixtures'));
  for (const [what, dir] of [
    ['folder', root],
    ['schema folder', schemaDir],
    ['fixtures folder', fixturesDir],
  ] as const) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ReviewInputError(`the ${spec.label} ${what} ${dir} does not exist (or is no folder)`);
  }
  return { root, schemaDir, fixturesDir };
}

/** Synthesizes the side into `outdir` and reads what a review needs from it. */
export async function prepareSide(spec: SideSpec, outdir: string, runnerBytes: () => Buffer): Promise<PreparedSide> {
  const { root, schemaDir, fixturesDir } = checkSide(spec);
  const env = spec.env ?? process.env;
  const differs = existsSync(join(root, 'main.ts')) ? differingCode(root, REPO_ROOT) : [];
  const own = differs.length > 0;
  const notes: string[] = [];
  let stackFile: string | undefined;
  let refused: string | undefined;
  if (own) {
    notes.push(
      `synthesized by its own code (its ${differs.join(', ')} differ${differs.length === 1 ? 's' : ''} from this checkout's), with this checkout's node_modules`,
    );
    ({ stackFile, refused } = synthesizeWithItsOwnCode(root, outdir, env, spec.label, notes));
  } else {
    try {
      const config = loadStackConfig({ env, context: cdktfContext(env, root) });
      await synthesize({ outdir, config, schemaDir, fixturesDir, runnerBytes: runnerBytes() });
      stackFile = join(outdir, 'stacks', config.stackName, 'cdk.tf.json');
    } catch (error) {
      if (!(error instanceof InvalidValueError || error instanceof ExitError)) throw error;
      refused = error.message;
    }
  }
  const base = { label: spec.label, root, schemaDir, fixturesDir, synthesizedBy: own ? ('its own code' as const) : ('this checkout' as const), notes };
  if (refused !== undefined || stackFile === undefined) return { ...base, refused: refused ?? 'synth wrote no stack' };
  const stack = readStackJson(stackFile);
  const { jobName, bundleHash, runnerDigest, runnerImage } = migrationOf(stack);
  if (!runnerDigest)
    throw new Error(`${stackFile}: neither the Job (MIGRATION_RUNNER_DIGEST) nor a ConfigMap (gpu-dev-db.js) names the runner: cannot tell its bundle hash`);
  const bundle = readBundle({ schemaDir, fixturesDir, runnerDigest, runnerImage });
  if (bundleHash && bundle.hash !== bundleHash) {
    notes.push(
      `its files hash to ${bundle.hash} with this checkout's bundle module, but its Job carries ${bundleHash}: the hashing changed between the two; the SQL is planned from the files as they are`,
    );
  }
  return { ...base, stackFile, stack, jobName, bundleHash, bundle };
}

/**
 * `node --import tsx main.ts` in the project folder, with this checkout's node_modules as its own
 * (linkNodeModules); synth's refusal comes back as its message.
 */
function synthesizeWithItsOwnCode(
  root: string,
  outdir: string,
  env: Readonly<Record<string, string | undefined>>,
  label: string,
  notes: string[],
): { stackFile?: string; refused?: string } {
  const modules = join(root, 'node_modules');
  const ours = !existsSync(modules);
  if (ours) {
    let how: ReturnType<typeof linkNodeModules>;
    try {
      how = linkNodeModules(root, SYNTH_TIMEOUT_MS);
    } catch (error) {
      throw new Error(`${label}: ${(error as Error).message}`, { cause: error });
    }
    if (how === 'a copy') notes.push(`node_modules copied in (${root} is on another filesystem than this checkout, so no hard links)`);
  }
  try {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'main.ts'], {
      cwd: root,
      env: { ...env, CDKTF_OUTDIR: outdir },
      encoding: 'utf8',
      timeout: SYNTH_TIMEOUT_MS,
      maxBuffer: 64 * 1024 * 1024,
    });
    if (result.error) {
      throw new Error(
        `${label}: its synth (node --import tsx main.ts in ${root}) ${(result.error as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? `did not finish within ${SYNTH_TIMEOUT_MS / 1000}s` : `could not run: ${result.error.message}`}`,
        { cause: result.error },
      );
    }
    if (result.status !== 0) return { refused: (result.stderr || result.stdout).trim().split('\n').slice(-20).join('\n') || `exit ${result.status}` };
    const stacks = existsSync(join(outdir, 'stacks')) ? readdirSync(join(outdir, 'stacks')) : [];
    if (stacks.length !== 1) throw new Error(`${label}: its synth wrote ${stacks.length} stacks into ${outdir}, expected one`);
    return { stackFile: join(outdir, 'stacks', stacks[0], 'cdk.tf.json') };
  } finally {
    if (ours) rmSync(modules, { recursive: true, force: true });
  }
}

/** Which of CODE two project folders do not hold byte for byte alike. */
export function differingCode(a: string, b: string): string[] {
  if (resolve(a) === resolve(b)) return [];
  return CODE.filter((path) => codeDigest(a, path) !== codeDigest(b, path));
}

function codeDigest(root: string, top: string): string {
  const hash = createHash('sha256');
  const visit = (path: string): void => {
    const full = join(root, path);
    if (!existsSync(full)) hash.update(`absent ${path}\n`);
    else if (statSync(full).isDirectory()) for (const name of readdirSync(full).sort()) visit(join(path, name));
    else
      hash
        .update(`${relative(root, full)}\n`)
        .update(readFileSync(full))
        .update('\n');
  };
  visit(top);
  return hash.digest('hex');
}
