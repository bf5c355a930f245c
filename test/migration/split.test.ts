import type { Client } from 'pg';
import { lineAndColumn, loadSqlParser, splitStatements } from '../../src/kernel/sql-split';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * Property: random files of valid SQL, built from statement kinds that trip naive splitters,
 * split into exactly the statements PostgreSQL itself executes. PostgreSQL is the oracle: sent
 * the whole file as one query it answers once per statement, and sent each piece alone it
 * answers exactly once, without error.
 */

/** mulberry32: a small seeded generator, so a failing file can be made again from its seed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TAGS = ['', 'x', 'body_1', 'é', 'ü名', 'Æ', 'tag'];

/** Statement kinds: each returns SQL (without its final semicolon) and how many statements it is. */
const KINDS: ((n: string, pick: <T>(items: readonly T[]) => T) => [string, number])[] = [
  (n) => [`SELECT 'a;b''c' AS s${n}`, 1],
  (n) => [`SELECT E'x\\';y' AS e${n}`, 1],
  (n) => [`SELECT 1 AS "we;ird${n}"`, 1],
  (n) => [`SELECT U&'d\\0061t;a' AS u${n}`, 1],
  (n, pick) => {
    const tag = pick(TAGS);
    return [`SELECT $${tag}$ ; body ${tag ? '$$ inner; $$' : ''} $${tag}$ AS d${n}`, 1];
  },
  (n, pick) => {
    const tag = pick(TAGS);
    return [`DO $${tag}$ BEGIN PERFORM ${n.length}; PERFORM ';'; END $${tag}$`, 1];
  },
  (n) => [`CREATE FUNCTION atomic_${n}() RETURNS integer LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND`, 1],
  (n) => [`CREATE TABLE ruled_${n} (a int);\nCREATE RULE rule_${n} AS ON INSERT TO ruled_${n} DO ALSO (SELECT 1; SELECT ';')`, 2],
  (n) => [`/* a; /* nested; */ b; */ SELECT ${n.length} AS c${n}`, 1],
  (n) => [`-- a comment; with a semicolon\nSELECT CASE WHEN true THEN 'a;' ELSE 'b' END AS k${n}`, 1],
  (n) => [`SELECT (SELECT ';' || $$;$$) AS p${n}`, 1],
  (n) => [`CREATE TABLE "tab;le_${n}" (id int, note text DEFAULT 'x;y')`, 1],
];
const SEPARATORS = [';\n', ';  ', ';;\n', ';\n\n-- trailing; comment\n', ';\n/* ; */\n'];

function generateFile(seed: number): { sql: string; count: number } {
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
  const parts: string[] = [];
  let count = 0;
  const size = 3 + Math.floor(next() * 12);
  for (let i = 0; i < size; i++) {
    const [sql, n] = pick(KINDS)(`${seed}_${i}`, pick);
    parts.push(sql, i === size - 1 && next() < 0.3 ? '\n' : pick(SEPARATORS));
    count += n;
  }
  return { sql: parts.join(''), count };
}

describe('splitting matches PostgreSQL', () => {
  let db: TestDatabase;
  let client: Client;
  beforeAll(async () => {
    await loadSqlParser();
    db = await createTestDatabase('split');
    client = await db.connect();
  });
  afterAll(() => db.drop());

  /** What PostgreSQL says of sending `sql` as one simple query, in a transaction rolled back. */
  async function answers(sql: string): Promise<number> {
    await client.query('BEGIN');
    try {
      const result = await client.query(sql);
      return Array.isArray(result) ? result.length : 1;
    } finally {
      await client.query('ROLLBACK');
    }
  }

  it('when 40 random files are split, then every piece is one statement PostgreSQL accepts alone, and the counts agree', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const { sql, count } = generateFile(seed);
      const context = `seed ${seed}:\n${sql}`;
      const statements = splitStatements(sql);
      expect({ context, pieces: statements.length }).toEqual({ context, pieces: count });
      expect({ context, pieces: await answers(sql) }).toEqual({ context, pieces: count });
      // Small chunks put chunk ends inside rules, atomic bodies and dollar quotes: same result.
      expect({ context, small: splitStatements(sql, { chunkChars: 16 }).map((s) => [s.offset, s.text]) }).toEqual({
        context,
        small: statements.map((s) => [s.offset, s.text]),
      });
      await client.query('BEGIN');
      try {
        for (const statement of statements) {
          expect(sql.slice(statement.offset, statement.offset + statement.text.length)).toBe(statement.text);
          expect(lineAndColumn(sql, statement.offset)).toEqual({ line: statement.line, column: statement.column });
          const result = await client.query(statement.text).catch((error: Error) => error);
          expect({ context, statement: statement.text, single: !Array.isArray(result) && !(result instanceof Error) }).toEqual({
            context,
            statement: statement.text,
            single: true,
          });
        }
      } finally {
        await client.query('ROLLBACK');
      }
    }
  });
});
