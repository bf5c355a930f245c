import { loadModule, parseSync, type Node } from 'libpg-query';

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
  /** The parse tree's node type: "CreateStmt", "TransactionStmt", … */
  readonly kind: string;
  /**
   * The parse tree, kept only for the kinds the caller asked for (the drift check's DDL): the
   * trees of a large fixture file would not fit in memory. Locations: see `treeBase`.
   */
  readonly tree?: Node;
  /** A tree location minus `treeBase` is a UTF-8 byte offset into `text` (use `textIndex`). */
  readonly treeBase: number;
}

/** A parse-tree location of `statement` as a character offset into its text. */
export function textIndex(statement: Statement, location: number | undefined): number {
  return charIndex(statement.text, Math.max(0, (location ?? statement.treeBase) - statement.treeBase));
}

/** PostgreSQL's parser refused the text: where (1-based line and column) and its message. */
export class SqlSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
    this.name = 'SqlSyntaxError';
  }
}

/** Starts the SQL parser (libpg-query, PostgreSQL's own parser as WebAssembly) once per process. */
export async function loadSqlParser(): Promise<void> {
  await loadModule();
}

/**
 * The parser sees the file in chunks of about this many characters: linear time, and the
 * parse tree of a 50 MB file is never held in memory (or in one string) at once.
 */
const CHUNK_CHARS = 1 << 20;

/**
 * Splits a file into statements exactly as PostgreSQL parses it: boundaries and trees come from
 * its own parser (loadSqlParser first). A fast lexical scan proposes chunk ends at top-level
 * semicolons; the parser confirms each chunk. A proposed end inside something the scan misread
 * (a `BEGIN ATOMIC` body, a rule's action list) leaves that chunk unfinished, the parser refuses
 * it, and the chunk grows to the next proposal, doubling, so the work stays linear.
 */
export interface SplitOptions {
  /** Sees every statement with its tree, e.g. to refuse some (throw). */
  readonly inspect?: (statement: Statement, tree: Node) => void;
  /** Node types whose trees the statements keep. @default none */
  readonly keepTrees?: ReadonlySet<string>;
  /** Characters the parser sees at once, at least. @default 1 MiB (tests use small chunks to cross many boundaries) */
  readonly chunkChars?: number;
}

export function splitStatements(sql: string, options: SplitOptions = {}): Statement[] {
  const cuts = semicolonCuts(sql);
  const statements: Statement[] = [];
  const cursor = new LineCursor(sql);
  let start = 0;
  let cutIndex = 0;
  while (start < sql.length) {
    let want = options.chunkChars ?? CHUNK_CHARS;
    for (;;) {
      while (cutIndex < cuts.length && cuts[cutIndex] - start < want) cutIndex++;
      const end = cutIndex < cuts.length ? cuts[cutIndex] : sql.length;
      const chunk = sql.slice(start, end);
      let stmts: { stmt?: Node; stmt_location?: number; stmt_len?: number }[];
      try {
        stmts = blank(chunk) ? [] : (parseSync(chunk).stmts ?? []);
      } catch (error) {
        if (end < sql.length) {
          want = Math.max(want * 2, end - start + 1);
          continue;
        }
        const at = start + charIndex(chunk, (error as { sqlDetails?: { cursorPosition?: number } }).sqlDetails?.cursorPosition ?? 0);
        const { line, column } = cursor.at(at);
        throw new SqlSyntaxError((error as Error).message, line, column);
      }
      statements.push(...statementsOfChunk(chunk, start, stmts, cursor, options));
      start = end;
      cutIndex++;
      break;
    }
  }
  return statements;
}

function statementsOfChunk(
  chunk: string,
  chunkStart: number,
  stmts: readonly { stmt?: Node; stmt_location?: number; stmt_len?: number }[],
  cursor: LineCursor,
  options: SplitOptions,
): Statement[] {
  const bytes = Buffer.from(chunk, 'utf8');
  const ascii = bytes.length === chunk.length;
  // Byte offsets to character offsets, walking forward once through the chunk.
  let byteAt = 0;
  let charAt = 0;
  const toChar = (byte: number): number => {
    if (ascii) return byte;
    charAt += bytes.subarray(byteAt, byte).toString('utf8').length;
    byteAt = byte;
    return charAt;
  };
  const result: Statement[] = [];
  for (const { stmt, stmt_location: location = 0, stmt_len: length } of stmts) {
    if (!stmt) continue;
    const located = toChar(location);
    const from = firstToken(chunk, located);
    const treeBase = location + Buffer.byteLength(chunk.slice(located, from), 'utf8');
    const to = length ? toChar(location + length) : chunk.length;
    const text = chunk.slice(from, to).trimEnd();
    const offset = chunkStart + from;
    const { line, column } = cursor.at(offset);
    const kind = Object.keys(stmt)[0];
    const statement: Statement = { text, offset, line, column, kind, treeBase, tree: options.keepTrees?.has(kind) ? stmt : undefined };
    options.inspect?.(statement, stmt);
    result.push(statement);
  }
  return result;
}

/** Skips blanks and comments: where a statement's first token is. */
function firstToken(text: string, from: number): number {
  let i = from;
  for (;;) {
    while (i < text.length && /\s/.test(text[i])) i++;
    if (text.startsWith('--', i)) {
      const eol = text.indexOf('\n', i);
      i = eol < 0 ? text.length : eol;
    } else if (text.startsWith('/*', i)) {
      i = skipBlockComment(text, i);
    } else {
      return i;
    }
  }
}

function blank(text: string): boolean {
  return /^\s*$/.test(text);
}

/** A UTF-8 byte offset into `text` as a character (UTF-16 unit) offset. */
function charIndex(text: string, byteOffset: number): number {
  return Buffer.from(text, 'utf8').subarray(0, byteOffset).toString('utf8').length;
}

// biome-ignore lint/suspicious/noConstEnum: file-local, so esbuild inlines each code in the splitter's loop; nothing imports it
const enum Code {
  tab = 9,
  newline = 10,
  space = 32,
  quote = 39,
  doubleQuote = 34,
  dollar = 36,
  open = 40,
  close = 41,
  star = 42,
  dash = 45,
  slash = 47,
  semicolon = 59,
  backslash = 92,
  zero = 48,
  nine = 57,
}

/**
 * Offsets just after each semicolon outside quotes, comments, dollar bodies and parentheses:
 * where a statement probably ends. Only a proposal (the parser decides), so it may be wrong
 * in rare cases, but it is one pass over the text.
 */
function semicolonCuts(sql: string): number[] {
  const cuts: number[] = [];
  let depth = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql.charCodeAt(i);
    const next = sql.charCodeAt(i + 1);
    if (c === Code.dash && next === Code.dash) {
      const eol = sql.indexOf('\n', i);
      i = eol < 0 ? n : eol + 1;
    } else if (c === Code.slash && next === Code.star) {
      i = skipBlockComment(sql, i);
    } else if (c === Code.quote) {
      const escapes = i > 0 && (sql.charCodeAt(i - 1) | 32) === 101 && !isIdentifierChar(sql.charCodeAt(i - 2));
      i = skipQuoted(sql, i, Code.quote, escapes);
    } else if (c === Code.doubleQuote) {
      i = skipQuoted(sql, i, Code.doubleQuote, false);
    } else if (c === Code.dollar && !isIdentifierChar(sql.charCodeAt(i - 1))) {
      const tagEnd = dollarTagEnd(sql, i);
      if (tagEnd < 0) {
        i++;
      } else {
        const close = sql.indexOf(sql.slice(i, tagEnd), tagEnd);
        i = close < 0 ? n : close + (tagEnd - i);
      }
    } else if (c === Code.open) {
      depth++;
      i++;
    } else if (c === Code.close) {
      depth = Math.max(0, depth - 1);
      i++;
    } else if (c === Code.semicolon) {
      i++;
      if (depth === 0) cuts.push(i);
    } else {
      i++;
    }
  }
  return cuts;
}

/** PostgreSQL's identifier characters include every non-ASCII letter and `$`. */
function isIdentifierChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= Code.zero && c <= Code.nine) || c === 95 || c === Code.dollar || c >= 128;
}

/** End (after the closing `$`) of a dollar-quote tag starting at `from`, or -1: `$$`, `$tag$`, `$é$`. */
function dollarTagEnd(sql: string, from: number): number {
  let i = from + 1;
  const first = sql.charCodeAt(i);
  if (first >= Code.zero && first <= Code.nine) return -1;
  while (i < sql.length) {
    const c = sql.charCodeAt(i);
    if (c === Code.dollar) return i + 1;
    if (!isIdentifierChar(c)) return -1;
    i++;
  }
  return -1;
}

function skipBlockComment(sql: string, from: number): number {
  let depth = 0;
  let i = from;
  while (i < sql.length) {
    const c = sql.charCodeAt(i);
    const next = sql.charCodeAt(i + 1);
    if (c === Code.slash && next === Code.star) {
      depth++;
      i += 2;
    } else if (c === Code.star && next === Code.slash) {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return sql.length;
}

function skipQuoted(sql: string, from: number, quote: number, backslashEscapes: boolean): number {
  let i = from + 1;
  while (i < sql.length) {
    const c = sql.charCodeAt(i);
    if (backslashEscapes && c === Code.backslash) {
      i += 2;
    } else if (c === quote) {
      if (sql.charCodeAt(i + 1) === quote) i += 2;
      else return i + 1;
    } else {
      i++;
    }
  }
  return sql.length;
}

/** Line and column of increasing offsets in one pass; an offset before the last one restarts. */
class LineCursor {
  private offset = 0;
  private line = 1;
  private lineStart = 0;

  constructor(private readonly text: string) {}

  at(offset: number): { line: number; column: number } {
    if (offset < this.offset) {
      this.offset = 0;
      this.line = 1;
      this.lineStart = 0;
    }
    for (let i = this.text.indexOf('\n', this.offset); i >= 0 && i < offset; i = this.text.indexOf('\n', i + 1)) {
      this.line++;
      this.lineStart = i + 1;
    }
    this.offset = offset;
    return { line: this.line, column: offset - this.lineStart + 1 };
  }
}

/** 1-based line and column of a character offset. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  return new LineCursor(text).at(offset);
}
