/**
 * A length of time as the runner's options and the stack's settings write it: a number with
 * `ms`, `s` or `m` ("500ms", "3s", "1.5m", "15m"), from 1ms to 24h. A bare number is refused:
 * milliseconds or seconds would be a guess. Parsed once; conversions are on the value.
 */
export class Duration {
  private constructor(
    /** Whole milliseconds. */
    readonly milliseconds: number,
    /** As written ("10m"), for messages and for passing it on unchanged. */
    private readonly text: string,
  ) {}

  /** Parses `text`; throws InvalidDurationError saying whether the form or the range is wrong. */
  static parse(text: string): Duration {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text.trim());
    if (!match) throw new InvalidDurationError(text, 'form');
    const ms = Number(match[1]) * UNIT_MS[match[2] as Unit];
    if (ms < 1 || ms > MAX_MS) throw new InvalidDurationError(text, 'range');
    return new Duration(Math.round(ms), text);
  }

  /** A duration of `ms` milliseconds, written in seconds when it is whole seconds ("3s", "300s"), else "250ms". */
  static ofMilliseconds(ms: number): Duration {
    return new Duration(ms, ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);
  }

  toSeconds(): number {
    return this.milliseconds / 1000;
  }

  isWholeSeconds(): boolean {
    return this.milliseconds % 1000 === 0;
  }

  isLongerThan(other: Duration): boolean {
    return this.milliseconds > other.milliseconds;
  }

  toString(): string {
    return this.text;
  }
}

type Unit = 'ms' | 's' | 'm';
const UNIT_MS: Record<Unit, number> = { ms: 1, s: 1000, m: 60_000 };
const MAX_MS = 86_400_000;

export class InvalidDurationError extends Error {
  constructor(
    readonly text: string,
    /** `form`: not a number with ms, s or m; `range`: not between 1ms and 24h. */
    readonly problem: 'form' | 'range',
  ) {
    super(problem === 'form' ? `"${text}" is not a duration such as 500ms, 3s or 5m` : `"${text}" is not between 1ms and 24h`);
    this.name = 'InvalidDurationError';
  }
}
