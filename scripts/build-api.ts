import { join } from 'node:path';
import { buildApiBundles } from '../src/build/api-bundle';
import { REPO_ROOT } from '../src/build/repository';

// `npm run build:api`: dist/gpu-dev-api.js and dist/gpu-dev-api-admin.js, what the image runs.
for (const file of buildApiBundles(join(REPO_ROOT, 'dist'))) process.stdout.write(`built ${file}\n`);
