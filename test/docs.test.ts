import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { anchorOf, docsPages, generated, withoutTimings } from '../scripts/docs';
import { REPO_ROOT } from '../src/build/repository';
import { USAGE } from '../src/runner/cli/settings';
import { SQLSTATE_RULES } from '../src/runner/sqlstate';
import { createTestDatabase } from './support/database';

const read = (file: string) => readFileSync(join(REPO_ROOT, file), 'utf8');
const runnerPage = read('docs/runner.md');

/** `--name` → its default, from the runner's usage text (which prints the library's defaults). */
function usageDefaults(): Map<string, string> {
  const options: string[] = [];
  for (const line of USAGE.split('\n')) {
    if (/^ {2}--/.test(line)) options.push(line.trim());
    else if (/^ {10,}\S/.test(line) && options.length > 0) options[options.length - 1] += ` ${line.trim()}`;
  }
  const defaults = new Map<string, string>();
  for (const option of options) {
    const found = /\(default: ([^)]+)\)$/.exec(option);
    if (found) defaults.set(option.split(' ')[0], found[1]);
  }
  return defaults;
}

/** A page's headings outside code blocks, as anchors. */
function anchors(text: string): Set<string> {
  const found = new Set<string>();
  let fence: string | undefined;
  for (const line of text.split('\n')) {
    const marker = /^(```|~~~~)/.exec(line)?.[1];
    if (marker) fence = fence === undefined ? marker : line.startsWith(fence) ? undefined : fence;
    else if (fence === undefined && /^#{1,6} /.test(line)) found.add(anchorOf(line.replace(/^#+ /, '')));
  }
  return found;
}

const MARKDOWN = ['README.md', ...docsPages()];

/** An empty database of the test run's PostgreSQL, for the review sample's plan. */
async function scratch() {
  const db = await createTestDatabase('docs');
  return { url: db.url, release: () => db.drop() };
}

describe('the docs and the code they document', () => {
  it.each(docsPages())(
    'when %s is regenerated (npm run docs), then it is unchanged: its contents list, tables and samples are what its headings, rules and code say',
    async (file) => {
      const text = read(file);
      expect(withoutTimings(text)).toBe(withoutTimings(await generated(file, text, scratch)));
    },
  );

  it('when the README is read, then it is a front page of at most 200 lines', () => {
    expect(read('README.md').split('\n').length).toBeLessThanOrEqual(200);
  });

  it.each(MARKDOWN)('when %s links to a file or a heading of the docs, then the target exists', (file) => {
    const text = read(file);
    const broken: string[] = [];
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^(https?:|mailto:)/.test(target)) continue;
      const [path, anchor] = target.split('#');
      const resolved = path ? normalize(join(dirname(file), path)) : file;
      if (!existsSync(join(REPO_ROOT, resolved))) broken.push(`${target}: no ${resolved}`);
      else if (anchor && resolved.endsWith('.md') && !anchors(read(resolved)).has(anchor)) broken.push(`${target}: no heading #${anchor} in ${resolved}`);
    }
    expect(broken).toEqual([]);
  });

  it("when the runner's defaults change, then its options table in docs/runner.md says the same as `gpu-dev-db --help`", () => {
    const defaults = usageDefaults();
    expect(defaults.size).toBeGreaterThanOrEqual(8);
    const rows = runnerPage.split('\n').filter((line) => line.startsWith('| `--'));
    const stale = [...defaults].filter(([option, value]) => {
      const row = rows.find((r) => r.startsWith(`| \`${option} `) || r.startsWith(`| \`${option}\``));
      return !row?.split(' | ')[2].startsWith(`\`${value}\``);
    });
    expect(stale).toEqual([]);
  });

  it('when the SQLSTATE table in src/runner/sqlstate.ts changes, then docs/runner.md shows the same rows: code, name, permanent or transient', () => {
    const rows = runnerPage
      .split('\n')
      .filter((line) => /^\| `[0-9A-Z]{2}([0-9A-Z]{3})?` \| /.test(line))
      .map((line) => line.split(' | ').slice(0, 3).join(' | '));
    expect(rows).toEqual(SQLSTATE_RULES.map((rule) => `| \`${rule.code}\` | ${rule.name} | ${rule.kind}`));
  });
});
