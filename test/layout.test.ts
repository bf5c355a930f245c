import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { REPO_ROOT } from '../src/build/repository';

/**
 * The floor plan: which code may import which. One row per place, the longest matching path
 * wins. `imports` are repository paths: `dir/` is the folder and everything under it, `dir/*`
 * only the files directly in it, anything else one file. Each row's folder has a README.md that
 * says the same in its `May import:` line (this test checks that too). Only test/ may import
 * test/support/, and no test file imports another.
 */
const RULES: Record<string, { readonly imports: readonly string[]; readonly packages: readonly string[] | 'any' }> = {
  'src/kernel/': { imports: ['src/kernel/'], packages: ['node:', 'pg', 'libpg-query'] },
  'src/runner/': { imports: ['src/kernel/', 'src/runner/*'], packages: ['node:', 'pg', 'libpg-query'] },
  'src/runner/cli/': { imports: ['src/kernel/', 'src/runner/'], packages: ['node:', 'pg', 'libpg-query'] },
  'src/stack/': { imports: ['src/kernel/', 'src/build/', 'src/stack/'], packages: ['node:', 'cdktf', 'constructs', '@cdktf/'] },
  'src/stack/constructs/': {
    imports: ['src/kernel/', 'src/build/', 'src/stack/constructs/', 'src/stack/validation.ts'],
    packages: ['node:', 'cdktf', 'constructs', '@cdktf/'],
  },
  'src/api/': { imports: ['src/kernel/', 'src/api/'], packages: ['node:', 'pg', 'express'] },
  'src/build/': { imports: ['src/build/'], packages: ['node:', 'esbuild', 'fflate'] },
  'src/review/': { imports: ['src/kernel/', 'src/runner/index.ts', 'src/stack/', 'src/build/', 'src/review/'], packages: ['node:', 'pg'] },
  'src/review/cli/': { imports: ['src/kernel/', 'src/build/', 'src/review/', 'src/dev/postgres.mjs'], packages: ['node:', 'pg'] },
  'src/dev/': { imports: ['src/'], packages: 'any' },
  'scripts/': { imports: ['src/', 'scripts/'], packages: 'any' },
  'bench/': { imports: ['src/', 'bench/', 'harness/'], packages: 'any' },
  'harness/': { imports: ['src/', 'harness/'], packages: 'any' },
  'main.ts': { imports: ['src/'], packages: 'any' },
  'test/': { imports: ['src/', 'scripts/', 'test/support/'], packages: 'any' },
  'test/support/': { imports: ['src/', 'test/support/'], packages: 'any' },
  'test/cluster/': { imports: ['src/', 'harness/', 'test/support/'], packages: 'any' },
  'test/harness/': { imports: ['src/', 'harness/'], packages: 'any' },
};

/** Folders whose README.md has a table of everything in them, one name (or several) per row. */
const LISTED_FOLDERS = ['bench', 'scripts', 'harness', 'test'];

const CODE = /\.(ts|mts|mjs)$/;

function filesUnder(path: string): string[] {
  const full = join(REPO_ROOT, path);
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full).flatMap((name) => filesUnder(join(path, name)));
}

const folders = (path: string): string[] =>
  readdirSync(join(REPO_ROOT, path), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => [join(path, entry.name), ...folders(join(path, entry.name))]);

/** The rule for a file or folder: the row with the longest path that contains it. */
function ruleFor(path: string): [string, (typeof RULES)[string]] | undefined {
  const posixPath = path.split(sep).join('/');
  const key = Object.keys(RULES)
    .filter((k) => (k.endsWith('/') ? `${posixPath}/`.startsWith(k) : posixPath === k))
    .sort((a, b) => b.length - a.length)[0];
  return key === undefined ? undefined : [key, RULES[key]];
}

function allows(entry: string, target: string): boolean {
  if (entry.endsWith('/*')) return dirname(target) === entry.slice(0, -2);
  return entry.endsWith('/') ? target.startsWith(entry) : target === entry;
}

/** Every specifier a file imports: `from '…'`, `import '…'`, `import('…')`, `require('…')`. */
function specifiers(source: string): string[] {
  const found = [...source.matchAll(/\bfrom\s+'([^']+)'|^\s*import\s+'([^']+)'|\bimport\(\s*'([^']+)'\s*\)|\brequire\(\s*'([^']+)'\s*\)/gm)];
  return found.map((m) => m[1] ?? m[2] ?? m[3] ?? m[4]);
}

/** A relative specifier as a repository path, the way TypeScript and Node find the file. */
function resolveRelative(file: string, specifier: string): string | undefined {
  const base = resolve(REPO_ROOT, dirname(file), specifier);
  const found = [base, `${base}.ts`, join(base, 'index.ts')].find((candidate) => existsSync(candidate) && statSync(candidate).isFile());
  return found === undefined ? undefined : relative(REPO_ROOT, found).split(sep).join('/');
}

function packageAllowed(specifier: string, packages: readonly string[] | 'any'): boolean {
  if (packages === 'any') return true;
  return packages.some((p) => (p.endsWith(':') || p.endsWith('/') ? specifier.startsWith(p) : specifier === p || specifier.startsWith(`${p}/`)));
}

/** The `May import:` line a folder's README.md carries for its rule. */
function mayImportLine(rule: (typeof RULES)[string]): string {
  const paths = rule.imports.map((entry) => (entry.endsWith('/*') ? `${entry.slice(0, -1)} (not its subfolders)` : entry)).join(', ');
  const packages = rule.packages === 'any' ? 'any package' : `the packages ${rule.packages.join(', ')}`;
  return `May import: ${paths}; ${packages}.`;
}

// This file is left out: its samples of import lines are text, not imports.
const codeFiles = ['src', 'scripts', 'bench', 'harness', 'test', 'main.ts']
  .flatMap(filesUnder)
  .filter((file) => CODE.test(file) && file !== 'test/layout.test.ts');

/** The names in the first cell of each row of a README's tables: `a.ts`, `b/`. */
function listedNames(readme: string): string[] {
  return readme
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .flatMap((line) => [...line.split('|')[1].matchAll(/`([^`]+)`/g)].map((m) => m[1]));
}

describe('the layout', () => {
  it('when any code imports, then it imports only what its folder may (RULES): product code never test/, a test file never another', () => {
    expect(codeFiles.length).toBeGreaterThan(120);
    expect(codeFiles.filter((file) => file.startsWith('test/')).length).toBeGreaterThan(60);
    const broken: string[] = [];
    for (const file of codeFiles) {
      const found = ruleFor(file);
      if (!found) {
        broken.push(`${file}: no rule covers this file; add its folder to RULES and a README.md`);
        continue;
      }
      const [area, rule] = found;
      for (const specifier of specifiers(readFileSync(join(REPO_ROOT, file), 'utf8'))) {
        if (!specifier.startsWith('.')) {
          if (!packageAllowed(specifier, rule.packages))
            broken.push(`${file} imports the package '${specifier}': ${area} may import ${JSON.stringify(rule.packages)}`);
          continue;
        }
        const target = resolveRelative(file, specifier);
        if (target === undefined) broken.push(`${file} imports '${specifier}', which is no file of this repository`);
        else if (target.startsWith('test/') && !file.startsWith('test/'))
          broken.push(`${file} imports '${specifier}' (${target}): nothing outside test/ may import test/`);
        else if (!rule.imports.some((entry) => allows(entry, target)))
          broken.push(`${file} imports '${specifier}' (${target}): ${area} may import only ${rule.imports.join(', ')}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('when a folder is under src/, then its README.md says what it is in two lines, the second its rule from RULES', () => {
    const missing: string[] = [];
    for (const folder of folders('src')) {
      const readme = join(REPO_ROOT, folder, 'README.md');
      const found = ruleFor(folder);
      if (!existsSync(readme)) missing.push(`${folder}: no README.md`);
      else if (!found) missing.push(`${folder}: no rule in RULES`);
      else {
        const lines = readFileSync(readme, 'utf8')
          .trim()
          .split('\n')
          .filter((line) => line.trim() !== '');
        const expected = mayImportLine(found[1]);
        if (lines.length !== 3 || !lines[0].startsWith('# ') || lines[2] !== expected)
          missing.push(`${folder}/README.md: want a title, one line of what it is, then "${expected}"`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('when a folder has a row in RULES, then its README.md carries that row as its "May import:" line', () => {
    const folderRows = Object.keys(RULES).filter((key) => key.endsWith('/'));
    expect(folderRows.length).toBeGreaterThan(14);
    const wrong = folderRows
      .filter(
        (key) =>
          !readFileSync(join(REPO_ROOT, key, 'README.md'), 'utf8')
            .split('\n')
            .includes(mayImportLine(RULES[key])),
      )
      .map((key) => `${key}README.md: want the line "${mayImportLine(RULES[key])}"`);
    expect(wrong).toEqual([]);
  });

  it("when a folder's README has a table of its files, then it names every file and folder there, and nothing that is not", () => {
    const wrong: string[] = [];
    for (const folder of LISTED_FOLDERS) {
      const listed = listedNames(readFileSync(join(REPO_ROOT, folder, 'README.md'), 'utf8'));
      const present = readdirSync(join(REPO_ROOT, folder), { withFileTypes: true })
        .filter((entry) => entry.name !== 'README.md')
        .map((entry) => (entry.isDirectory() ? `${entry.name}/` : entry.name));
      for (const name of present.filter((n) => !listed.includes(n))) wrong.push(`${folder}/README.md does not list ${name}`);
      for (const name of listed.filter((n) => !present.includes(n))) wrong.push(`${folder}/README.md lists ${name}, which is not there`);
    }
    expect(wrong).toEqual([]);
  });

  it('when the rules check imports, then they catch a wrong-way import (the API or the kernel importing the stack, product code importing test/ or src/dev/, a test importing another or the harness)', () => {
    const verdict = (file: string, target: string) => (ruleFor(file) as [string, (typeof RULES)[string]])[1].imports.some((entry) => allows(entry, target));
    expect(verdict('src/api/server.ts', 'src/stack/config.ts')).toBe(false);
    expect(verdict('src/kernel/bundle.ts', 'src/stack/validation.ts')).toBe(false);
    expect(verdict('src/runner/apply.ts', 'src/runner/cli/settings.ts')).toBe(false);
    expect(verdict('src/stack/constructs/api-service.ts', 'src/stack/config.ts')).toBe(false);
    expect(verdict('src/stack/synth.ts', 'src/dev/pgmq.ts')).toBe(false);
    expect(verdict('bench/run.ts', 'test/support/api.ts')).toBe(false);
    expect(verdict('test/api/jobs.test.ts', 'test/migration/apply.test.ts')).toBe(false);
    expect(verdict('test/api/jobs.test.ts', 'harness/project.ts')).toBe(false);
    expect(verdict('test/support/api.ts', 'harness/project.ts')).toBe(false);
    expect(verdict('test/cluster/deploy.test.ts', 'harness/project.ts')).toBe(true);
    expect(listedNames('| file | what |\n| --- | --- |\n| `a.ts`, `b/` | x `c.ts` |\n')).toEqual(['a.ts', 'b/']);
    expect(verdict('src/runner/cli/main.ts', 'src/runner/commands.ts')).toBe(true);
    expect(specifiers(`import a from './a';\nexport { b } from '../b';\nimport './c';\nconst d = await import('./d.mjs');\nrequire('e');`)).toEqual([
      './a',
      '../b',
      './c',
      './d.mjs',
      'e',
    ]);
  });
});
