import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/build/repository';
import { buildRunnerBundle } from '../src/build/runner-bundle';

// `npm run build`: the runner the stack hashes, the Dockerfile puts in the product image, and
// GPU_DEV_RUNNER_SOURCE=configmap ships in a ConfigMap; also the package's bin.
const out = join(REPO_ROOT, 'dist', 'gpu-dev-db.js');
mkdirSync(join(REPO_ROOT, 'dist'), { recursive: true });
writeFileSync(out, buildRunnerBundle());
chmodSync(out, 0o755);
process.stdout.write(`built ${out}\n`);
