import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadStackConfig } from '../../src/stack/config';
import { synthesize } from '../../src/stack/synth';
import { runnerBytes } from '../support/stack';

/**
 * Every plan, apply and refresh reads the whole configuration, and the state keeps every object:
 * a megabyte in either (the runner as a ConfigMap did that) costs seconds on every deploy. The
 * state's budget is held by the cluster suite (test/cluster/deploy.test.ts), which has one.
 */
const BUDGET_BYTES = 100_000;

async function synthesizedBytes(env: NodeJS.ProcessEnv): Promise<number> {
  const outdir = join(mkdtempSync(join(tmpdir(), 'gpu-dev-budget-')), 'cdktf.out');
  const summary = await synthesize({ outdir, config: loadStackConfig({ env }), runnerBytes: runnerBytes() });
  return statSync(join(outdir, 'stacks', summary.stackName, 'cdk.tf.json')).size;
}

describe('the size of what OpenTofu reads on every run', () => {
  it('when the product bundle is synthesized, then cdk.tf.json is under 100 KB', async () => {
    expect(await synthesizedBytes({})).toBeLessThan(BUDGET_BYTES);
  });

  it('when the runner comes from a ConfigMap, then the configuration carries it: the megabyte the default layout keeps out', async () => {
    expect(await synthesizedBytes({ GPU_DEV_RUNNER_SOURCE: 'configmap' })).toBeGreaterThan(runnerBytes().length);
  });
});
