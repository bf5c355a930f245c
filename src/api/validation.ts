import { invalidInput, type ValidationIssue } from './errors';

export interface StringRules {
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: RegExp;
}

export interface IntegerRules {
  readonly min?: number;
  readonly max?: number;
}

/**
 * Reads the fields of one request part (body, query or path), collecting every problem in
 * FastAPI's 422 shape (the gpu-dev CLI was written against FastAPI) instead of stopping at the
 * first. Call `check()` once all fields are read: it throws if anything was wrong, so values
 * returned for invalid fields (placeholders) never reach a service.
 *
 * JSON null counts as "not given" for optional fields. Unknown fields are ignored, as FastAPI does.
 */
export class Fields {
  readonly issues: ValidationIssue[] = [];
  private readonly values: Record<string, unknown> = {};
  private readonly partValid: boolean;

  constructor(
    private readonly source: 'body' | 'query' | 'path',
    input: unknown,
  ) {
    // A missing or non-object part is the one problem reported for it, not each of its fields.
    if (isPlainObject(input)) this.values = input;
    else if (input === undefined) this.issues.push({ loc: [source], msg: 'Field required', type: 'missing' });
    else this.issues.push({ loc: [source], msg: 'Input should be a valid dictionary or object', type: 'model_attributes_type' });
    this.partValid = this.issues.length === 0;
  }

  requiredString(name: string, rules: StringRules = {}): string {
    const value = this.values[name];
    if (value === undefined || value === null) {
      this.issue(name, 'Field required', 'missing');
      return '';
    }
    return this.checkString(name, value, rules) ?? '';
  }

  optionalString(name: string, rules: StringRules = {}): string | null {
    const value = this.values[name];
    return value === undefined || value === null ? null : this.checkString(name, value, rules);
  }

  requiredInteger(name: string, rules: IntegerRules = {}): number {
    const value = this.values[name];
    if (value === undefined || value === null) {
      this.issue(name, 'Field required', 'missing');
      return 0;
    }
    return this.checkInteger(name, value, rules) ?? 0;
  }

  optionalInteger(name: string, rules: IntegerRules = {}): number | null {
    const value = this.values[name];
    return value === undefined || value === null ? null : this.checkInteger(name, value, rules);
  }

  integerOr(name: string, fallback: number, rules: IntegerRules = {}): number {
    return this.optionalInteger(name, rules) ?? fallback;
  }

  /** An object whose values are all strings (environment variables). */
  optionalStringMap(name: string): Record<string, string> | null {
    const value = this.values[name];
    if (value === undefined || value === null) return null;
    if (!isPlainObject(value)) {
      this.issue(name, 'Input should be a valid dictionary', 'dict_type');
      return null;
    }
    for (const [key, item] of Object.entries(value)) {
      if (typeof item !== 'string') this.add([this.source, name, key], 'Input should be a valid string', 'string_type');
    }
    return value as Record<string, string>;
  }

  /** Throws a 422 HttpError (invalidInput) listing every problem found so far. */
  check(): void {
    checkAll(this);
  }

  private checkString(name: string, value: unknown, rules: StringRules): string | null {
    if (typeof value !== 'string') {
      this.issue(name, 'Input should be a valid string', 'string_type');
      return null;
    }
    if (rules.minLength !== undefined && value.length < rules.minLength) {
      this.issue(name, `String should have at least ${rules.minLength} character${rules.minLength === 1 ? '' : 's'}`, 'string_too_short');
    } else if (rules.maxLength !== undefined && value.length > rules.maxLength) {
      this.issue(name, `String should have at most ${rules.maxLength} characters`, 'string_too_long');
    } else if (rules.pattern && !rules.pattern.test(value)) {
      this.issue(name, `String should match pattern '${rules.pattern.source}'`, 'string_pattern_mismatch');
    }
    return value;
  }

  private checkInteger(name: string, value: unknown, rules: IntegerRules): number | null {
    // Query and path values arrive as text; a body must carry a JSON integer.
    let n: number;
    if (this.source !== 'body' && typeof value === 'string' && /^-?\d{1,15}$/.test(value.trim())) n = Number(value);
    else if (this.source === 'body' && typeof value === 'number' && Number.isSafeInteger(value)) n = value;
    else {
      this.issue(name, 'Input should be a valid integer', this.source === 'body' ? 'int_type' : 'int_parsing');
      return null;
    }
    if (rules.min !== undefined && n < rules.min) this.issue(name, `Input should be greater than or equal to ${rules.min}`, 'greater_than_equal');
    else if (rules.max !== undefined && n > rules.max) this.issue(name, `Input should be less than or equal to ${rules.max}`, 'less_than_equal');
    return n;
  }

  private issue(name: string, msg: string, type: string): void {
    this.add([this.source, name], msg, type);
  }

  private add(loc: (string | number)[], msg: string, type: string): void {
    if (this.partValid) this.issues.push({ loc, msg, type });
  }
}

/**
 * NUL, and UTF-16 surrogates outside a pair: PostgreSQL stores neither (text refuses the byte
 * 0x00; jsonb refuses `\u0000` and a lone `\ud800`), so such input would fail in the database.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what PostgreSQL cannot store.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function isStorable(text: string): boolean {
  return !UNSTORABLE.test(text);
}

/** Enough to show a client what is wrong; a hostile body could otherwise make a huge answer. */
const MAX_UNSTORABLE_ISSUES = 10;

/**
 * Every string of a parsed request part (JSON body or query object), member names included,
 * that PostgreSQL cannot store, in FastAPI's 422 shape; at most MAX_UNSTORABLE_ISSUES.
 * Iterative: a body may nest hundreds of thousands of levels deep.
 */
export function unstorableIssues(source: 'body' | 'query', input: unknown): ValidationIssue[] {
  interface Node {
    readonly value: unknown;
    readonly key?: string | number;
    readonly parent?: Node;
  }
  const loc = (node: Node, key?: string): (string | number)[] => {
    const reversed: (string | number)[] = key === undefined ? [] : [key];
    for (let n: Node | undefined = node; n?.parent; n = n.parent) reversed.push(n.key as string | number);
    return [source, ...reversed.reverse()];
  };
  const issues: ValidationIssue[] = [];
  const pending: Node[] = [{ value: input }];
  while (pending.length > 0 && issues.length < MAX_UNSTORABLE_ISSUES) {
    const node = pending.pop() as Node;
    const { value } = node;
    if (typeof value === 'string') {
      if (!isStorable(value))
        issues.push({ loc: loc(node), msg: 'String should not contain NUL characters or unpaired surrogates', type: 'string_unstorable' });
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) pending.push({ value: value[i], key: i, parent: node });
    } else if (typeof value === 'object' && value !== null) {
      const entries = Object.entries(value);
      for (const [key] of entries) {
        if (!isStorable(key))
          issues.push({ loc: loc(node, key), msg: 'Field name should not contain NUL characters or unpaired surrogates', type: 'string_unstorable' });
      }
      for (let i = entries.length - 1; i >= 0; i--) pending.push({ value: entries[i][1], key: entries[i][0], parent: node });
    }
  }
  return issues.slice(0, MAX_UNSTORABLE_ISSUES);
}

/** Throws one 422 HttpError (invalidInput) listing the problems of every part (path, query, body). */
export function checkAll(...parts: readonly Fields[]): void {
  const issues = parts.flatMap((p) => p.issues);
  if (issues.length > 0) throw invalidInput(issues);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
