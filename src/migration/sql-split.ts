/** One SQL statement of a file, with where it starts so errors can point into the file. */
export interface Statement {
  /** The statement's text, from its first token up to (not including) its terminating `;`. */
  readonly text: string;
  /** Character offset of `text` in the file. */
  readonly offset: number;
  /** 1-based line of the statement's first token. */
  readonly line: number;
  /** 1-based column of the statement's first token. */
  readonly column: number;
}

const DOLLAR_TAG = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/;

/**
 * Splits SQL text into statements the way psql does: on `;` outside quotes, dollar-quoted
 * bodies and comments. Sending statements one at a time lets the runner name the failing
 * statement's line even when PostgreSQL reports no position (lock or statement timeouts).
 * Not supported: SQL-standard `BEGIN ATOMIC … END` bodies (write such functions with `$$`).
 */
export function splitStatements(sql: string): Statement[] {
  const statements: Statement[] = [];
  let start = -1;
  let i = 0;
  const push = (end: number) => {
    if (start >= 0) {
      const text = sql.slice(start, end).trimEnd();
      statements.push({ text, offset: start, ...lineAndColumn(sql, start) });
    }
    start = -1;
  };
  while (i < sql.length) {
    const ch = sql[i];
    const next = sql[i + 1];
    if (ch === '-' && next === '-') {
      const eol = sql.indexOf('\n', i);
      i = eol < 0 ? sql.length : eol + 1;
      continue;
    }
    if (ch === '/' && next === '*') {
      i = skipBlockComment(sql, i);
      continue;
    }
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === ';') {
      push(i);
      i++;
      continue;
    }
    if (start < 0) start = i;
    if (ch === "'") {
      const escapes = i > 0 && /[eE]/.test(sql[i - 1]) && !/[A-Za-z0-9_]/.test(sql[i - 2] ?? '');
      i = skipQuoted(sql, i, "'", escapes);
    } else if (ch === '"') {
      i = skipQuoted(sql, i, '"', false);
    } else if (ch === '$') {
      const tag = DOLLAR_TAG.exec(sql.slice(i, i + 64));
      const precededByIdentifier = i > 0 && /[A-Za-z0-9_]/.test(sql[i - 1]);
      if (tag && !precededByIdentifier) {
        const close = sql.indexOf(tag[0], i + tag[0].length);
        i = close < 0 ? sql.length : close + tag[0].length;
      } else {
        i++;
      }
    } else {
      i++;
    }
  }
  push(sql.length);
  return statements;
}

function skipBlockComment(sql: string, from: number): number {
  let depth = 0;
  let i = from;
  while (i < sql.length) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      depth++;
      i += 2;
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return sql.length;
}

function skipQuoted(sql: string, from: number, quote: string, backslashEscapes: boolean): number {
  let i = from + 1;
  while (i < sql.length) {
    if (backslashEscapes && sql[i] === '\\') {
      i += 2;
    } else if (sql[i] === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else {
      i++;
    }
  }
  return sql.length;
}

/** 1-based line and column of a character offset. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}
