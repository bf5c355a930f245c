import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/build/repository';
import { synthesize } from '../../src/stack/synth';

/**
 * Two checkouts of this repository at different paths, each running `npm run synth`'s command:
 * the output must be byte-identical, and hold no path of either checkout or of the home folder.
 * The checkouts live in an ignored folder of the repository so that node_modules can be
 * hard-linked (same filesystem): a symlink would be resolved by the runner's bundler to a path
 * outside the checkout, which no real clone has.
 */
const CHECKOUTS = join(REPO_ROOT, '.test-checkouts');

function checkout(path: string): string {
  mkdirSync(path, { recursive: true });
  for (const entry of ['main.ts', 'cdktf.json', 'package.json', 'tsconfig.json', 'src', 'scripts', 'database']) {
    cpSync(join(REPO_ROOT, entry), join(path, entry), { recursive: true });
  }
  execFileSync('cp', ['-al', join(REPO_ROOT, 'node_modules'), join(path, 'node_modules')]);
  return path;
}

function synth(cwd: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      join(cwd, 'node_modules', '.bin', 'tsx'),
      ['main.ts'],
      { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' }, timeout: 90_000 },
      (error, stdout, stderr) => (error ? reject(new Error(`synth in ${cwd} failed: ${stderr}`)) : resolve({ stdout, stderr })),
    );
  });
}

const read = (root: string, file: string) => readFileSync(join(root, 'cdktf.out', file));

describe('deterministic synth', () => {
  let root: string;
  beforeAll(() => {
    mkdirSync(CHECKOUTS, { recursive: true });
    root = mkdtempSync(join(CHECKOUTS, 'run-'));
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    // Leave no trace in the repository, unless another run still uses the folder.
    if (readdirSync(CHECKOUTS).length === 0) rmSync(CHECKOUTS, { recursive: true, force: true });
  });

  it('when the same checkout is synthesized in two different folders, then the output is byte-identical and free of paths', async () => {
    const a = checkout(join(root, 'alice', 'gpu-dev'));
    const b = checkout(join(root, 'ci', 'builds', 'job-1234', 'repo'));
    const [outA, outB] = await Promise.all([synth(a), synth(b)]);
    expect(outA.stdout).toBe(outB.stdout);
    expect(outA.stdout).toContain('stack       gpu-dev  (cdktf.out/stacks/gpu-dev/cdk.tf.json)');

    for (const file of ['manifest.json', join('stacks', 'gpu-dev', 'cdk.tf.json')]) {
      const bytes = read(a, file);
      expect(read(b, file).equals(bytes)).toBe(true);
      const text = bytes.toString('utf8');
      for (const path of [a, b, REPO_ROOT, homedir(), '/tmp/']) expect(text).not.toContain(path);
    }

    // And the same bytes as this checkout synthesizes in-process, into yet another folder.
    const here = join(root, 'in-process', 'cdktf.out');
    await synthesize({ outdir: here });
    expect(readFileSync(join(here, 'stacks', 'gpu-dev', 'cdk.tf.json')).equals(read(a, join('stacks', 'gpu-dev', 'cdk.tf.json')))).toBe(true);
  });
});
