import { join, resolve } from 'node:path';

/** Repository root: the one folder synth output and bundles are relative to. */
export const REPO_ROOT = resolve(__dirname, '..', '..');

/** This checkout's SQL: what the stack ships and the local stack, the bench and the tests apply by default. */
export const DATABASE_FOLDERS = {
  schemaDir: join(REPO_ROOT, 'database', 'schema'),
  fixturesDir: join(REPO_ROOT, 'database', 'fixtures'),
} as const;
