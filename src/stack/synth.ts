import { App } from 'cdktf';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { buildRunnerBundle } from '../build/runner-bundle';
import { displayName, parseBundle } from '../kernel/bundle';
import { DEFAULTS, loadStackConfig, type StackConfig } from './config';
import { GpuDevStack, type GpuDevStackProps } from './stack';
import { InvalidValueError } from './validation';

export interface SynthOptions extends Omit<GpuDevStackProps, 'config' | 'runnerBytes'> {
  /** Output folder (cdktf's `CDKTF_OUTDIR`). */
  readonly outdir: string;
  /** @default the platform's defaults */
  readonly config?: StackConfig;
  /** The bundled runner the Job runs. @default buildRunnerBundle(): this checkout's runner, built now */
  readonly runnerBytes?: Buffer;
}

export interface SynthSummary {
  readonly stackName: string;
  /** cdk.tf.json, relative to the current folder. */
  readonly stackFile: string;
  /** The migration Job's name; undefined when the stack runs none (migrationJob false). */
  readonly jobName: string | undefined;
  readonly bundleHash: string;
  /** The bundle's files in the order the runner applies them. */
  readonly files: readonly string[];
  readonly configMaps: readonly { readonly name: string; readonly bytes: number }[];
  readonly images: Readonly<Record<string, string>>;
}

/**
 * Builds and synthesizes the stack. Everything is validated while the constructs are built,
 * and the SQL by PostgreSQL's parser and the runner's rules (the Job would refuse it), and the output is written to a staging folder first, then moved into `outdir` file by file:
 * a refused synth (bad config, bad SQL file, oversized ConfigMap, bad Job name) leaves `outdir`
 * exactly as it was. Files already in `outdir` that synth does not write (Terraform's
 * `.terraform/`, lock file, plans) are kept.
 */
export async function synthesize(options: SynthOptions): Promise<SynthSummary> {
  const config = options.config ?? DEFAULTS;
  const outdir = resolve(options.outdir);
  mkdirSync(dirname(outdir), { recursive: true });
  // Next to outdir, so the moves are renames on one filesystem.
  const staging = mkdtempSync(join(dirname(outdir), '.cdktf-synth-'));
  try {
    // Built here, not in a constructor: the constructs take the bytes they ship.
    const runnerBytes = options.runnerBytes ?? buildRunnerBundle();
    const app = new App({ outdir: staging, stackTraces: false });
    const stack = new GpuDevStack(app, config.stackName, { ...options, config, runnerBytes });
    await parseBundle(stack.migration.bundle, { allowServerFiles: config.migrationAllowServerFiles });
    app.synth();
    // Stack files before the manifest, which is what points tools at them.
    for (const file of filesUnder(staging).sort((a, b) => Number(a === 'manifest.json') - Number(b === 'manifest.json'))) {
      mkdirSync(dirname(join(outdir, file)), { recursive: true });
      renameSync(join(staging, file), join(outdir, file));
    }
    const { migration, api, postgres } = stack;
    return {
      stackName: config.stackName,
      stackFile: relative(process.cwd(), join(outdir, 'stacks', config.stackName, 'cdk.tf.json')),
      jobName: migration.job ? migration.jobName : undefined,
      bundleHash: migration.bundle.hash,
      files: migration.bundle.files.map(displayName),
      configMaps: migration.shards.map(({ name, bytes }) => ({ name, bytes })),
      images: { migration: migration.image, api: api.image, ...(postgres ? { postgres: postgres.image } : {}) },
    };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function filesUnder(root: string, folder = ''): string[] {
  return readdirSync(join(root, folder), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(root, join(folder, entry.name)) : [join(folder, entry.name)],
  );
}

/**
 * cdktf context: `CDKTF_CONTEXT_JSON` (set by the cdktf CLI, which merges `cdktf.json` into it)
 * over `cdktf.json`'s own `context` (read here too, so `npm run synth` without the CLI sees it).
 */
export function cdktfContext(env: Readonly<Record<string, string | undefined>>, cwd = process.cwd()): Record<string, unknown> {
  let file: string | undefined;
  try {
    file = readFileSync(join(cwd, 'cdktf.json'), 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw cause;
  }
  const fromFile = file === undefined ? {} : ((parseJson('cdktf.json', file) as { context?: Record<string, unknown> }).context ?? {});
  const fromEnv = env.CDKTF_CONTEXT_JSON ? (parseJson('CDKTF_CONTEXT_JSON', env.CDKTF_CONTEXT_JSON) as Record<string, unknown>) : {};
  return { ...fromFile, ...fromEnv };
}

function parseJson(subject: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new InvalidValueError(subject, text.length > 80 ? `${text.slice(0, 80)}…` : text, `must be JSON (${(cause as Error).message})`);
  }
}

/** The config `main.ts` uses: environment over cdktf context over defaults. */
export function configFromEnvironment(env: Readonly<Record<string, string | undefined>> = process.env): StackConfig {
  return loadStackConfig({ env, context: cdktfContext(env) });
}

/** The plan-review summary `npm run synth` prints. */
export function formatSummary(summary: SynthSummary): string {
  const column = (label: string, lines: readonly string[]) => lines.map((line, i) => `${(i === 0 ? label : '').padEnd(12)}${line}`).join('\n');
  return [
    column('stack', [`${summary.stackName}  (${summary.stackFile})`]),
    column('job', [summary.jobName ?? 'none: migrationJob is false (GPU_DEV_MIGRATION_JOB), nothing applies the bundle']),
    column('bundle', [summary.bundleHash]),
    column('files', summary.files),
    column(
      'configmaps',
      summary.configMaps.map((c) => `${c.name}  ${c.bytes} bytes`),
    ),
    column(
      'images',
      Object.entries(summary.images).map(([role, image]) => `${role}: ${image}`),
    ),
  ].join('\n');
}
