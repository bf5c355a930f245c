import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/build/repository';

/**
 * The lines of the code block a page of docs/ holds between `<!-- NAME: checked by … -->` and
 * `<!-- end of NAME -->`: a sample a test compares with what the product printed.
 */
export function docsSample(page: string, name: string): string[] {
  const text = readFileSync(join(REPO_ROOT, 'docs', page), 'utf8');
  const start = text.indexOf(`<!-- ${name}: checked by `);
  const end = text.indexOf(`<!-- end of ${name} -->`);
  if (start < 0 || end < start) throw new Error(`docs/${page} has no "<!-- ${name}: checked by … -->" … "<!-- end of ${name} -->" section`);
  return text
    .slice(text.indexOf('```\n', start) + 4, text.lastIndexOf('```', end))
    .trimEnd()
    .split('\n');
}
