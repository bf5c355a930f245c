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

  describe('when the same checkout is synthesized in two different folders', () => {
    let a: string;
    let b: string;
    let outA: { stdout: string; stderr: string };
    let outB: { stdout: string; stderr: string };
    const FILES = ['manifest.json', join('stacks', 'gpu-dev', 'cdk.tf.json')];
    beforeAll(async () => {
      a = checkout(join(root, 'alice', 'gpu-dev'));
      b = checkout(join(root, 'ci', 'builds', 'job-1234', 'repo'));
      [outA, outB] = await Promise.all([synth(a), synth(b)]);
    });

    it('then both print the same summary', () => {
      expect(outA.stdout).toBe(outB.stdout);
      expect(outA.stdout).toContain('stack       gpu-dev  (cdktf.out/stacks/gpu-dev/cdk.tf.json)');
    });

    it('then the manifest and cdk.tf.json are byte-identical', () => {
      for (const file of FILES) expect(read(b, file).equals(read(a, file))).toBe(true);
    });

    it('then they hold no path of either checkout, of this one, of the home folder or of /tmp', () => {
      for (const file of FILES) {
        const text = read(a, file).toString('utf8');
        for (const path of [a, b, REPO_ROOT, homedir(), '/tmp/']) expect(text).not.toContain(path);
      }
    });

    it('then this checkout synthesizes the same bytes in-process, into yet another folder', async () => {
      const here = join(root, 'in-process', 'cdktf.out');
      await synthesize({ outdir: here });
      expect(readFileSync(join(here, 'stacks', 'gpu-dev', 'cdk.tf.json')).equals(read(a, join('stacks', 'gpu-dev', 'cdk.tf.json')))).toBe(true);
    });
  });
});
