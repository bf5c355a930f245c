import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/build/repository';
import { ReviewInputError } from '../../src/review/errors';
import { extractCommit, resolveBase } from '../../src/review/git';
import { reviewChange } from '../../src/review/review';
import { checkSide, differingCode } from '../../src/review/sides';
import { synthesize } from '../../src/stack/synth';
import { createTestDatabase } from '../support/database';
import { temporaryFolder } from '../support/temporary';

/**
 * The git-ref path on a temporary repository holding this checkout's code: the base commit is
 * extracted with git archive, and since its code differs (a comment in the stack), its own
 * code synthesizes it; the head (the working tree, this checkout's code) is synthesized here.
 */

const CODE = ['src', 'main.ts', 'package.json', 'package-lock.json', 'tsconfig.json', 'cdktf.json', 'database', '.squawk.toml'];
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

function gitIn(repo: string, ...args: string[]): string {
  return execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8', timeout: 30_000 });
}

function repository(branch = 'main'): string {
  const repo = temporaryFolder('gpu-dev-review-repo-');
  for (const path of CODE) cpSync(join(REPO_ROOT, path), join(repo, path), { recursive: true });
  gitIn(repo, 'init', '-q', '-b', branch);
  gitIn(repo, 'config', 'user.email', 'review-test@example.com');
  gitIn(repo, 'config', 'user.name', 'review test');
  return repo;
}

function commitAll(repo: string, message: string): void {
  gitIn(repo, 'add', '-A');
  gitIn(repo, 'commit', '-q', '-m', message);
}

describe('npm run review against a git ref', () => {
  describe('when the base is a commit whose code differs', () => {
    let repo: string;
    let base: ReturnType<typeof resolveBase>;
    let mergeBase: ReturnType<typeof resolveBase>;
    let headCommit: string;
    let tree: string;
    let treeHasHeadFile: boolean;
    let treeStack: string;
    let review: Awaited<ReturnType<typeof reviewChange>>;
    beforeAll(async () => {
      repo = repository();
      const stackFile = join(repo, 'src', 'stack', 'stack.ts');
      const original = readFileSync(stackFile, 'utf8');
      appendFileSync(stackFile, '\n// the base commit differs from this checkout here\n');
      commitAll(repo, 'base: a comment in the stack');
      writeFileSync(stackFile, original);
      writeFileSync(
        join(repo, 'database', 'schema', '006_audit_log.sql'),
        '-- 006_audit_log.sql\nCREATE TABLE IF NOT EXISTS audit_log (audit_id BIGSERIAL PRIMARY KEY, action TEXT NOT NULL);\n',
      );

      base = resolveBase(repo, 'HEAD');
      headCommit = gitIn(repo, 'rev-parse', 'HEAD').trim();
      mergeBase = resolveBase(repo);
      tree = join(temporaryFolder('gpu-dev-review-base-'), 'tree');
      extractCommit(repo, base.commit, tree);
      // What the extracted tree holds before the review runs on it.
      treeHasHeadFile = existsSync(join(tree, 'database', 'schema', '006_audit_log.sql'));
      treeStack = readFileSync(join(tree, 'src', 'stack', 'stack.ts'), 'utf8');

      review = await reviewChange({
        base: { label: 'base HEAD', root: tree, env: {} },
        head: { label: 'head (working tree)', root: repo, env: {} },
        baseCommit: base,
        scratch: async () => {
          const db = await createTestDatabase('review_git');
          return { url: db.url, release: () => db.drop() };
        },
        log: silent,
      });
    });

    it('then HEAD, and where HEAD left main, resolve to the base commit', () => {
      expect(base).toEqual({
        ref: 'HEAD',
        commit: headCommit,
        summary: expect.stringMatching(/^[0-9a-f]{7,} base: a comment in the stack$/),
      });
      expect(mergeBase).toMatchObject({ ref: 'merge-base HEAD main', commit: base.commit });
    });

    it("then the extracted tree is the base commit's: its code, without the head's new file", () => {
      expect(treeHasHeadFile).toBe(false);
      expect(treeStack).toContain('the base commit differs');
    });

    it("then the base is synthesized by its own code, with this checkout's node_modules, leaving none in its tree", () => {
      expect(review.base.synthesizedBy).toBe('its own code');
      expect(review.base.notes).toEqual(["synthesized by its own code (its src differs from this checkout's), with this checkout's node_modules"]);
      expect(existsSync(join(tree, 'node_modules'))).toBe(false);
    });

    it("then the head is synthesized by this checkout's code", () => {
      // The head's code is this checkout's, unless someone edits this checkout's src/ meanwhile.
      expect(review.head.synthesizedBy).toBe(differingCode(repo, REPO_ROOT).length === 0 ? 'this checkout' : 'its own code');
    });

    it("then the base's Job is named as this checkout's synth of its folders names it, and the head's Job differs", async () => {
      // Its runner code is this checkout's, so this checkout's synth of its folders names the same Job:
      // with node_modules through a symlink, the bundler would see other paths and name another.
      const expected = await synthesize({
        outdir: join(tree, '..', 'expected'),
        schemaDir: join(tree, 'database', 'schema'),
        fixturesDir: join(tree, 'database', 'fixtures'),
      });
      expect(review.base.jobName).toBe(expected.jobName);
      expect(review.head.jobName).not.toBe(review.base.jobName);
    });

    it("then the review sees the head's new file, and the plan creates its table", () => {
      expect(review.sql.files).toEqual([{ file: 'schema/006_audit_log.sql', change: 'added' }]);
      expect(review.sql.scratch?.plan?.changes).toContainEqual(expect.objectContaining({ kind: 'table', name: 'audit_log', change: 'create' }));
    });

    it('then the migration Job is replaced: the bundle runs on the next apply', () => {
      expect(review.deploy.effect?.sentences[0]).toBe(
        `The migration Job is replaced (${review.base.jobName} → ${review.head.jobName}): the bundle runs on the next apply.`,
      );
    });

    it('then the review passes', () => {
      expect(review.verdict.level).toBe('pass');
    });
  });

  it('when the ref, the repository, main or a folder is not there, then the error names it', () => {
    const repo = repository();
    commitAll(repo, 'one commit');
    expect(() => resolveBase(repo, 'no-such-branch')).toThrow(ReviewInputError);
    expect(() => resolveBase(repo, 'no-such-branch')).toThrow(`unknown git ref "no-such-branch" in ${repo}: no commit by that name`);
    const trunk = repository('trunk');
    commitAll(trunk, 'one commit');
    expect(() => resolveBase(trunk)).toThrow(`cannot find where HEAD left main in ${trunk}`);
    expect(() => resolveBase(trunk)).toThrow(/pass --base REF, e\.g\. --base origin\/main$/);
    const plain = temporaryFolder('gpu-dev-review-plain-');
    expect(() => resolveBase(plain)).toThrow(`${plain} is not a git repository`);
    expect(() => checkSide({ label: 'base', root: join(plain, 'gone') })).toThrow(
      new ReviewInputError(`the base folder ${join(plain, 'gone')} does not exist (or is no folder)`),
    );
    expect(() => checkSide({ label: 'head', root: plain })).toThrow(
      `the head schema folder ${join(plain, 'database', 'schema')} does not exist (or is no folder)`,
    );
  });

  it('when npm run review gets bad input, then it exits 2 with one line naming it and prints no report', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'review', 'cli', 'main.ts'), ...args], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        timeout: 60_000,
      });
    const ref = run('--base', 'no-such-ref-for-review');
    expect(ref.status).toBe(2);
    expect(ref.stdout).toBe('');
    expect(ref.stderr).toContain('ERROR: unknown git ref "no-such-ref-for-review"');
    const folder = run('--base-dir', '/no/such/folder');
    expect(folder.status).toBe(2);
    expect(folder.stderr).toContain('ERROR: --base-dir /no/such/folder: no such folder');
    const flag = run('--bogus');
    expect(flag.status).toBe(2);
    expect(flag.stderr).toMatch(/Unknown option '--bogus'[\s\S]*Usage: npm run -s review/);
  });
});
