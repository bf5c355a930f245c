import { buildSync } from 'esbuild';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './repository';

/** The API's programs, as the image ships them: output file name → entry point. */
export const API_PROGRAMS = {
  'gpu-dev-api.js': join('src', 'api', 'main.ts'),
  'gpu-dev-api-admin.js': join('src', 'api', 'admin.ts'),
} as const;

/**
 * Bundles each API program into one CommonJS file of our own code. npm packages stay
 * external: the image installs them with `npm ci --omit=dev`, so they stay visible to image
 * scanners and keep their licence files.
 */
export function buildApiBundles(outDir: string): string[] {
  mkdirSync(outDir, { recursive: true });
  return Object.entries(API_PROGRAMS).map(([name, entry]) => {
    const result = buildSync({
      absWorkingDir: REPO_ROOT,
      entryPoints: [entry],
      bundle: true,
      packages: 'external',
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      write: false,
      charset: 'ascii',
      logLevel: 'silent',
    });
    const out = join(outDir, name);
    writeFileSync(out, result.outputFiles[0].contents);
    return out;
  });
}
