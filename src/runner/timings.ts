/**
 * Where a run's time went (`--timings`): each mark ends a phase that began at the previous one.
 * The first phase begins at the process's start (performance's time origin), so it holds Node's
 * own start and loading the runner.
 */
export class Timings {
  private readonly phases: { name: string; ms: number }[] = [];
  private last = 0;

  /** Ends the phase `name` now. */
  mark(name: string): void {
    const now = performance.now();
    this.phases.push({ name, ms: now - this.last });
    this.last = now;
  }

  /** "start-up 61 ms, files 3 ms, …, total 140 ms". */
  describe(): string {
    return `${this.phases.map(({ name, ms }) => `${name} ${ms.toFixed(1)} ms`).join(', ')}, total ${this.last.toFixed(1)} ms`;
  }

  /** Phases in order, for --json. */
  toJSON(): Record<string, number> {
    return Object.fromEntries(this.phases.map(({ name, ms }) => [name, Math.round(ms * 10) / 10]));
  }
}
