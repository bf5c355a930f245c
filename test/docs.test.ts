import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { withGeneratedTables } from '../scripts/docs';
import { REPO_ROOT } from '../src/build/repository';
import { USAGE } from '../src/runner/cli/settings';
import { SQLSTATE_RULES } from '../src/runner/sqlstate';

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

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

describe('README.md and the code it documents', () => {
  it('when the settings or the convergence rules change, then their tables are regenerated (npm run docs): each is exactly what its rule says', () => {
    expect(readme).toBe(withGeneratedTables(readme));
  });

  it("when the runner's defaults change, then its options table in README.md says the same as `gpu-dev-db --help`", () => {
    const defaults = usageDefaults();
    expect(defaults.size).toBeGreaterThanOrEqual(8);
    const rows = readme.split('\n').filter((line) => line.startsWith('| `--'));
    const stale = [...defaults].filter(([option, value]) => {
      const row = rows.find((r) => r.startsWith(`| \`${option} `) || r.startsWith(`| \`${option}\``));
      return !row || !row.split(' | ')[2].startsWith(`\`${value}\``);
    });
    expect(stale).toEqual([]);
  });

  it('when the SQLSTATE table in src/runner/sqlstate.ts changes, then README.md shows the same rows: code, name, permanent or transient', () => {
    const rows = readme.split('\n').filter((line) => /^\| `[0-9A-Z]{2}([0-9A-Z]{3})?` \| /.test(line)).map((line) => line.split(' | ').slice(0, 3).join(' | '));
    expect(rows).toEqual(SQLSTATE_RULES.map((rule) => `| \`${rule.code}\` | ${rule.name} | ${rule.kind}`));
  });
});
