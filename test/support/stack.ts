import { Testing } from 'cdktf';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRunnerBundle } from '../../src/build/runner-bundle';
import type { SynthesizedJson } from '../../src/dev/synthesized-job';
import { loadStackConfig as loadConfig } from '../../src/stack/config';
import { GpuDevStack, type GpuDevStackProps } from '../../src/stack/stack';

export type { SynthesizedJson };

let runner: Buffer | undefined;
let outdir: string | undefined;

/** A cdktf Testing app; tests synthesize in memory, so all of them share one (empty) outdir. */
export function testApp() {
  outdir ??= mkdtempSync(join(tmpdir(), 'gpu-dev-cdktf-'));
  return Testing.app({ outdir });
}

/** The bundled runner, built once per test file: what the stack ships unless a test varies it. */
export function runnerBytes(): Buffer {
  runner ??= buildRunnerBundle();
  return runner;
}

/**
 * Synthesizes the whole stack in memory with `cdktf` Testing (no output folder), from settings
 * as the environment would give them. Returns the JSON text and its parsed form.
 */
export function synthStack(
  env: Record<string, string> = {},
  props: Partial<Omit<GpuDevStackProps, 'config'>> = {},
): { text: string; json: SynthesizedJson; stack: GpuDevStack } {
  const stack = new GpuDevStack(testApp(), 'gpu-dev', { runnerBytes: runnerBytes(), ...props, config: loadConfig({ env }) });
  const text = Testing.synth(stack);
  return { text, json: JSON.parse(text) as SynthesizedJson, stack };
}

/** The one resource of a type (fails when there are several or none). */
export function only(json: SynthesizedJson, type: string): any {
  const all = Object.values(json.resource[type] ?? {});
  if (all.length !== 1) throw new Error(`expected one ${type}, found ${all.length}`);
  return all[0];
}

/** Terraform address (`type.name`) of the resource of `type` whose metadata.name is `name`. */
export function addressOf(json: SynthesizedJson, type: string, name: string): string {
  const entry = Object.entries(json.resource[type] ?? {}).find(([, r]) => r.metadata?.name === name);
  if (!entry) throw new Error(`no ${type} named ${name}`);
  return `${type}.${entry[0]}`;
}

/** SQL whose comments and strings hold every template introduction Terraform knows, and its escape. */
export const TEMPLATE_SQL = [
  '-- ${x} is no interpolation, %{ if true }nor a directive%{ endif }, and $${y} stays doubled',
  "SELECT '${x}' AS a, '%{ if }' AS b, '$${y}' AS c, '%%{z}' AS d, $body$ ${$}%{%} $body$ AS e;",
  '',
].join('\n');
