import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { linkNodeModules, REPO_ROOT } from '../src/build/repository';
import { describeFailure, runCommand, startCommand, type CommandResult } from './command';
import type { Toolchain } from './toolchain';

/**
 * A checkout as a user has it (main.ts, src/, database/, package.json, cdktf.json; node_modules
 * linked), in a folder of its own, so a case can edit SQL and keep its own Terraform state. Its
 * commands are the README's: `npm run synth`, then tofu in cdktf.out/stacks/<stack>.
 */

const COPIED = ['main.ts', 'package.json', 'package-lock.json', 'cdktf.json', 'tsconfig.json', 'src', 'database'];

export interface ProjectOptions {
  /** Settings for synth (GPU_DEV_*), on top of the kubeconfig. */
  readonly settings?: Readonly<Record<string, string>>;
}

export class Project {
  readonly stackDir: string;
  settings: Record<string, string>;

  private constructor(
    private readonly toolchain: Toolchain,
    readonly root: string,
    kubeconfig: string,
    options: ProjectOptions,
  ) {
    this.settings = { GPU_DEV_KUBECONFIG: kubeconfig, ...options.settings };
    this.stackDir = join(root, 'cdktf.out', 'stacks', this.settings.GPU_DEV_STACK_NAME ?? 'gpu-dev');
  }

  static create(toolchain: Toolchain, kubeconfig: string, options: ProjectOptions = {}): Project {
    const root = mkdtempSync(join(tmpdir(), 'gpu-dev-project-'));
    for (const entry of COPIED) cpSync(join(REPO_ROOT, entry), join(root, entry), { recursive: true });
    // Its own node_modules, so its runner is this checkout's bytes: the product image's (images.ts).
    linkNodeModules(root, 120_000);
    return new Project(toolchain, root, kubeconfig, options);
  }

  writeSql(folder: 'schema' | 'fixtures', name: string, text: string): void {
    mkdirSync(join(this.root, 'database', folder), { recursive: true });
    writeFileSync(join(this.root, 'database', folder, name), text);
  }

  removeSql(folder: 'schema' | 'fixtures', name: string): void {
    rmSync(join(this.root, 'database', folder, name));
  }

  /** The environment of the README's commands: settings, the toolchain's tofu and its offline CLI config. */
  env(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
    return {
      ...this.settings,
      PATH: `${join(this.toolchain.dir, 'bin')}:${process.env.PATH}`,
      TF_CLI_CONFIG_FILE: join(this.toolchain.dir, 'tofurc'),
      TF_IN_AUTOMATION: '1',
      CHECKPOINT_DISABLE: '1',
      ...extra,
    };
  }

  /**
   * `npm run synth`; fails with its output when synth refuses. With GPU_DEV_TEST_PROVIDER_KUBERNETES
   * set (a version in the mirror, e.g. 3.2.1), an override file next to cdk.tf.json makes OpenTofu
   * use that provider instead of the one the stack pins: how the suite measures another release.
   */
  async synth(): Promise<string> {
    const result = await runCommand('npm', ['run', '-s', 'synth'], { cwd: this.root, env: this.env(), timeoutMs: 180_000 });
    if (result.code !== 0) throw new Error(describeFailure('npm', ['run', 'synth'], result));
    const version = process.env.GPU_DEV_TEST_PROVIDER_KUBERNETES;
    if (version) {
      const override = { terraform: { required_providers: { kubernetes: { source: 'hashicorp/kubernetes', version } } } };
      writeFileSync(join(this.stackDir, 'provider_override.tf.json'), JSON.stringify(override, null, 2));
    }
    return result.stdout;
  }

  /** tofu in the stack folder (no colours, never a prompt). */
  tofu(args: readonly string[], timeoutMs = 300_000, extraEnv: Readonly<Record<string, string>> = {}): Promise<CommandResult> {
    const [command, ...rest] = args;
    const flags = ['init', 'plan', 'apply', 'destroy', 'output', 'show'].includes(command) ? ['-no-color'] : [];
    const input = ['init', 'plan', 'apply', 'destroy'].includes(command) ? ['-input=false'] : [];
    return runCommand(this.toolchain.bin('tofu'), [command, ...flags, ...input, ...rest], { cwd: this.stackDir, env: this.env(extraEnv), timeoutMs });
  }

  /** tofu in the background, to be interrupted (command.ts startCommand). */
  startTofu(args: readonly string[], onStdout?: (chunk: string) => void): ReturnType<typeof startCommand> {
    const [command, ...rest] = args;
    return startCommand(this.toolchain.bin('tofu'), [command, '-no-color', '-input=false', ...rest], {
      cwd: this.stackDir,
      env: this.env(),
      timeoutMs: 300_000,
      onStdout,
    });
  }

  /** tofu that must succeed. */
  async mustTofu(args: readonly string[], timeoutMs = 300_000): Promise<CommandResult> {
    const result = await this.tofu(args, timeoutMs);
    if (result.code !== 0) throw new Error(describeFailure('tofu', args, result));
    return result;
  }

  /** `tofu plan -detailed-exitcode`: 0 no changes, 2 changes (1 an error), with the plan as JSON. */
  async plan(): Promise<{ code: number | null; changes: { address: string; actions: string[] }[]; result: CommandResult }> {
    const planFile = join(this.root, 'review.tfplan');
    const result = await this.tofu(['plan', '-detailed-exitcode', `-out=${planFile}`]);
    if (result.code !== 0 && result.code !== 2) return { code: result.code, changes: [], result };
    const shown = await this.tofu(['show', '-json', planFile]);
    const plan = JSON.parse(shown.stdout) as { resource_changes?: { address: string; change: { actions: string[] } }[] };
    const changes = (plan.resource_changes ?? [])
      .filter((c) => !(c.change.actions.length === 1 && c.change.actions[0] === 'no-op'))
      .map((c) => ({ address: c.address, actions: c.change.actions }));
    return { code: result.code, changes, result };
  }

  /** cdk.tf.json as synth wrote it. */
  readStackFile(): Promise<string> {
    return readFile(join(this.stackDir, 'cdk.tf.json'), 'utf8');
  }

  /** The runner bundle this checkout builds (the same bytes as the original's: its node_modules is its own). */
  runnerBytes(): Buffer {
    return execFileSync(process.execPath, [join(this.root, 'src', 'build', 'bundle-runner.mjs')], { cwd: this.root, maxBuffer: 64 * 1024 * 1024 });
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
