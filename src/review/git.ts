import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ReviewInputError } from './errors';

/**
 * The review's base from git: a ref resolved to a commit, and that commit's files extracted
 * into a folder with `git archive` (no worktree is registered in the repository, which other
 * people use at the same time; nothing is left behind if the review dies). Every git command
 * is bounded.
 */

const GIT_TIMEOUT_MS = 60_000;

export interface BaseCommit {
  /** What the user asked for (`origin/main`), or how the default was found. */
  readonly ref: string;
  readonly commit: string;
  /** `abc1234 subject line` */
  readonly summary: string;
}

/** Runs git in `repo`; a failure keeps git's own message. */
function git(repo: string, args: readonly string[], what: string): string {
  const result = spawnSync('git', ['-C', repo, ...args], { encoding: 'utf8', timeout: GIT_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
  if (result.error) {
    const timedOut = (result.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
    throw new Error(
      `${what}: git ${args.join(' ')} ${timedOut ? `did not finish within ${GIT_TIMEOUT_MS / 1000}s` : `could not run (${result.error.message})`}`,
      { cause: result.error },
    );
  }
  if (result.status !== 0) throw new GitFailure(`${what}: git ${args.join(' ')} exited ${result.status}: ${result.stderr.trim() || result.stdout.trim()}`);
  return result.stdout;
}

class GitFailure extends Error {}

/**
 * The commit to review against: `ref`, or `git merge-base HEAD main` when none is given.
 * An unknown ref or a folder that is no git repository is a ReviewInputError naming it.
 */
export function resolveBase(repo: string, ref?: string): BaseCommit {
  try {
    git(repo, ['rev-parse', '--git-dir'], 'find the repository');
  } catch (cause) {
    throw new ReviewInputError(`${repo} is not a git repository (${(cause as Error).message}): give the base as a folder with --base-dir instead`, { cause });
  }
  let commit: string;
  let asked: string;
  if (ref === undefined) {
    asked = 'merge-base HEAD main';
    try {
      commit = git(repo, ['merge-base', 'HEAD', 'main'], 'find the merge base of HEAD and main').trim();
    } catch (cause) {
      throw new ReviewInputError(`cannot find where HEAD left main in ${repo} (${(cause as Error).message}): pass --base REF, e.g. --base origin/main`, {
        cause,
      });
    }
  } else {
    asked = ref;
    try {
      commit = git(repo, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`], `resolve ${ref}`).trim();
    } catch (cause) {
      if (!(cause instanceof GitFailure)) throw cause;
      throw new ReviewInputError(
        `unknown git ref "${ref}" in ${repo}: no commit by that name (fetch it first, e.g. git fetch origin main; CI needs fetch-depth: 0)`,
        { cause },
      );
    }
  }
  const line = git(repo, ['log', '-1', '--format=%h %s', commit], `describe ${commit}`).trim();
  const summary = line.length > 72 ? `${line.slice(0, 71)}…` : line;
  return { ref: asked, commit, summary };
}

/** The commit's files, as committed, in `into` (created); the archive is removed afterwards. */
export function extractCommit(repo: string, commit: string, into: string): void {
  mkdirSync(into, { recursive: true });
  const archive = join(into, '..', `${commit.slice(0, 12)}.tar`);
  try {
    git(repo, ['archive', '--format=tar', '-o', archive, commit], `extract ${commit.slice(0, 12)}`);
    const tar = spawnSync('tar', ['-xf', archive, '-C', into], { encoding: 'utf8', timeout: GIT_TIMEOUT_MS });
    if (tar.error || tar.status !== 0) {
      throw new Error(`extract ${commit.slice(0, 12)}: tar -xf exited ${tar.status ?? tar.error?.message}: ${tar.stderr?.trim() ?? ''}`, { cause: tar.error });
    }
  } finally {
    rmSync(archive, { force: true });
  }
}
