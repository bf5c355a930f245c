// The CDKTF app (cdktf.json "app"; `npm run synth`): validate everything, synthesize into
// CDKTF_OUTDIR (default cdktf.out), print what a reviewer needs. A refused synth writes nothing.
import { ExitError } from './src/kernel/exit-codes';
import { configFromEnvironment, formatSummary, synthesize } from './src/stack/synth';
import { InvalidValueError } from './src/stack/validation';

async function main(): Promise<void> {
  try {
    const summary = await synthesize({ outdir: process.env.CDKTF_OUTDIR || 'cdktf.out', config: configFromEnvironment() });
    process.stdout.write(`${formatSummary(summary)}\n`);
  } catch (error) {
    // Expected refusals are one clear line; anything else keeps its stack trace.
    if (!(error instanceof InvalidValueError || error instanceof ExitError)) throw error;
    process.stderr.write(`synth refused, nothing written: ${error.message}\n`);
    process.exitCode = 1;
  }
}

void main();
