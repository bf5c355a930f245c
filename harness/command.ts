import { spawn } from 'node:child_process';

/**
 * Every command the cluster suite runs (tofu, kubectl, kwokctl, npm), bounded: each gets its own
 * process group, which is killed (SIGTERM, then SIGKILL) when its time runs out or when the test
 * file ends with it still running (stopAllCommands, called by the suites' afterAll).
 */

export interface CommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
  readonly timedOut: boolean;
}

export interface CommandOptions {
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly timeoutMs: number;
  readonly input?: string;
  /** Called with each chunk of stdout as it arrives (for watches that need arrival times). */
  readonly onStdout?: (chunk: string) => void;
}

const running = new Set<number>();

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

export function runCommand(file: string, args: readonly string[], options: CommandOptions): Promise<CommandResult> {
  return startCommand(file, args, options).done;
}

/** A command running in the background: `stop()` ends it (its group) and gives its output. */
export function startCommand(
  file: string,
  args: readonly string[],
  options: CommandOptions,
): { readonly done: Promise<CommandResult>; stop(): Promise<CommandResult>; signal(signal: NodeJS.Signals): void } {
  const started = Date.now();
  let pid: number | undefined;
  const done = new Promise<CommandResult>((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env } as NodeJS.ProcessEnv,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => {
      out.push(b);
      options.onStdout?.(b.toString('utf8'));
    });
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.end(options.input ?? '');
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid) {
        killGroup(child.pid, 'SIGTERM');
        setTimeout(() => child.pid && killGroup(child.pid, 'SIGKILL'), 5_000).unref();
      }
    }, options.timeoutMs);
    pid = child.pid;
    if (child.pid) running.add(child.pid);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${file}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (child.pid) running.delete(child.pid);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ms: Date.now() - started, timedOut });
    });
  });
  return {
    done,
    stop: () => {
      if (pid) killGroup(pid, 'SIGTERM');
      return done;
    },
    /** Sends `signal` to the whole group: SIGINT is Ctrl-C in a terminal, SIGKILL a closed laptop or a cancelled CI job. */
    signal: (signal) => {
      if (pid) killGroup(pid, signal);
    },
  };
}

/** Like runCommand, but a non-zero exit (or a time-out) is an error carrying the command's output. */
export async function mustRun(file: string, args: readonly string[], options: CommandOptions): Promise<CommandResult> {
  const result = await runCommand(file, args, options);
  if (result.code !== 0) throw new Error(describeFailure(file, args, result));
  return result;
}

export function describeFailure(file: string, args: readonly string[], result: CommandResult): string {
  const how = result.timedOut ? `timed out after ${result.ms} ms` : `exited ${result.code ?? result.signal}`;
  return `${[file, ...args].join(' ')} ${how}\n--- stdout\n${result.stdout.slice(-8000)}\n--- stderr\n${result.stderr.slice(-8000)}`;
}

/** Kills every command still running (their whole process groups). */
export function stopAllCommands(): void {
  for (const pid of running) {
    killGroup(pid, 'SIGKILL');
    running.delete(pid);
  }
}
