/** Where the runner and the API write what they do; injected so tests and --json can redirect it. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Plain lines for `kubectl logs`: progress to `out`, warnings and errors to `err`, no colour. */
export function lineLogger(
  out: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  err: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Logger {
  return {
    info: out,
    warn: (message) => err(`WARNING: ${message}`),
    error: (message) => err(`ERROR: ${message}`),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Milliseconds as seconds with one decimal, for log lines ("2.5s"). */
export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
