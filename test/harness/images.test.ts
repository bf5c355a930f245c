import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/build/repository';
import { buildRunnerBundle } from '../../src/build/runner-bundle';
import { DEFAULTS } from '../../src/stack/config';
import { RUNNER_IN_IMAGE } from '../../src/stack/constructs/database-migration';
import { API_IMAGE, apiImageRecipe, nodeBaseRecipe, NODE_UID, normalizedName, NODE_IMAGE, sharedLibraries, type ImageRecipe } from '../../harness/images';
import { TarWriter, type TarEntry } from '../../harness/tar';

/**
 * The cluster suite's real node runs images assembled without docker (harness/images.ts).
 * These cases keep the API image's assembly in step with the Dockerfile (in the normal suite: no
 * Go, no toolchain, no cluster): the Dockerfile is read here on its own, and every one of its
 * instructions must show in what the assembler made.
 */

const DOCKERFILE = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');

/** The final stage's instructions, read by a regex of their own (not the assembler's parser). */
function finalStage(): { keyword: string; args: string }[] {
  const lines = DOCKERFILE.replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const from = lines.map((l, i) => (/^FROM\s/i.test(l) ? i : -1)).filter((i) => i >= 0);
  return lines.slice(from[from.length - 1]).map((l) => {
    const [, keyword, args] = /^(\w+)\s+(.*)$/.exec(l)!;
    return { keyword: keyword.toUpperCase(), args };
  });
}

function paths(recipe: ImageRecipe, layer: number): Map<string, TarEntry> {
  return new Map(recipe.layers[layer].entries.map((e) => [e.path.replace(/\/+$/, ''), e]));
}

describe('the API image assembled without docker (harness/images.ts)', () => {
  let buildDir: string;
  let assembly: ReturnType<typeof apiImageRecipe>;

  beforeAll(() => {
    buildDir = mkdtempSync(join(tmpdir(), 'gpu-dev-image-test-'));
    assembly = apiImageRecipe({ buildDir });
  });
  afterAll(() => rmSync(buildDir, { recursive: true, force: true }));

  it('when the Dockerfile is applied, then every instruction of every stage was applied, in order', () => {
    const instructions = DOCKERFILE.split('\n').filter((l) => /^\s*[A-Z]+\s/.test(l) && !/^\s*FROM\s/.test(l)).length;
    expect(assembly.steps).toHaveLength(instructions);
    expect(assembly.steps.map((s) => s.line)).toEqual([...assembly.steps.map((s) => s.line)].sort((a, b) => a - b));
  });

  it("when assembled, then the image is the stack's default API and Job image on the Node image, the Dockerfile's base", () => {
    expect(assembly.recipe.name).toBe(API_IMAGE);
    expect(API_IMAGE).toBe(DEFAULTS.apiImage);
    expect(DEFAULTS.runnerImage).toBe(API_IMAGE);
    expect(finalStage()[0]).toEqual({ keyword: 'FROM', args: NODE_IMAGE });
    expect(assembly.base).toBe(NODE_IMAGE);
    expect(assembly.recipe.layers[0]).toEqual(nodeBaseRecipe().layers[0]);
  });

  it("when assembled, then its config has the final stage's CMD, USER, WORKDIR, ENV and EXPOSE", () => {
    const stage = finalStage();
    const last = (keyword: string) => stage.filter((i) => i.keyword === keyword).pop()?.args;
    const config = assembly.recipe.config;
    expect(config.Cmd).toEqual(JSON.parse(last('CMD')!));
    expect(config.User).toBe(last('USER'));
    expect(config.WorkingDir).toBe(last('WORKDIR'));
    for (const env of stage.filter((i) => i.keyword === 'ENV')) expect(config.Env).toContain(env.args);
    expect(Object.keys(config.ExposedPorts ?? {})).toEqual(stage.filter((i) => i.keyword === 'EXPOSE').map((i) => `${i.args}/tcp`));
  });

  it('when assembled, then every COPY of the final stage is in the image, and so is the file its CMD runs', () => {
    const files = paths(assembly.recipe, 1);
    const workdir = assembly.recipe.config.WorkingDir!;
    for (const copy of finalStage().filter((i) => i.keyword === 'COPY')) {
      const words = copy.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const dest = words.pop()!;
      for (const source of words) {
        const name = source.split('/').pop()!;
        const target = dest.endsWith('/') ? join(workdir, dest, name) : join(workdir, dest);
        expect(files.get(target)?.type).toBe('copy');
      }
    }
    const [, script] = assembly.recipe.config.Cmd!;
    expect(files.get(join(workdir, script))?.type).toBe('copy');
  });

  it('when assembled, then the runner the Job runs is in it, the bytes this checkout builds (the ones the stack hashes)', () => {
    const entry = paths(assembly.recipe, 1).get(RUNNER_IN_IMAGE);
    expect(entry?.type).toBe('copy');
    expect(readFileSync((entry as { source: string }).source).equals(buildRunnerBundle())).toBe(true);
  });

  it('when assembled, then node_modules holds the production dependencies only, as npm ci --omit=dev', () => {
    const files = paths(assembly.recipe, 1);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    for (const name of Object.keys(pkg.dependencies)) expect(files.get(`/app/node_modules/${name}/package.json`)?.type).toBe('copy');
    for (const name of Object.keys(pkg.devDependencies)) expect(files.has(`/app/node_modules/${name}`)).toBe(false);
    expect([...files.keys()].some((p) => p.includes('/node_modules/.bin'))).toBe(false);
  });

  it('when the Dockerfile has an instruction the assembler does not know, then assembling fails naming its line', () => {
    const withRun = DOCKERFILE.replace('USER 1000:1000', 'RUN apt-get install -y curl\nUSER 1000:1000');
    expect(() => apiImageRecipe({ buildDir, dockerfile: withRun })).toThrow(
      /Dockerfile line \d+: RUN apt-get install -y curl: the command "apt-get install -y curl" is not one it knows/,
    );
    expect(() => apiImageRecipe({ buildDir, dockerfile: DOCKERFILE.replace('COPY --from=build', 'COPY --chown=1000 --from=build') })).toThrow(
      /only --from= is understood/,
    );
    expect(() => apiImageRecipe({ buildDir, dockerfile: DOCKERFILE.replace(/^CMD .*$/m, 'CMD node dist/gpu-dev-api.js') })).toThrow(/CMD must be in exec form/);
    expect(() => apiImageRecipe({ buildDir, dockerfile: DOCKERFILE.replace('EXPOSE 8000', 'HEALTHCHECK CMD true') })).toThrow(
      /HEALTHCHECK CMD true: unknown instruction/,
    );
  });
});

describe('the runner image and the tar writer (harness/images.ts, tar.ts)', () => {
  describe('when the Node base is assembled', () => {
    let base: ImageRecipe;
    let files: Map<string, TarEntry>;
    beforeAll(() => {
      base = nodeBaseRecipe();
      files = paths(base, 0);
    });
    const text = (path: string) => {
      const entry = files.get(path);
      return entry?.type === 'file' ? entry.data.toString() : undefined;
    };

    it('then it has this Node, and says which version', () => {
      expect(files.get('/usr/local/bin/node')).toMatchObject({ type: 'copy', source: process.execPath });
      expect(base.config.Env).toContain(`NODE_VERSION=${process.version.slice(1)}`);
    });

    it("then it has Node's libraries", () => {
      // Each library resolves in the image as on the host: a copy, or links on the way to one.
      const libraries = sharedLibraries(process.execPath);
      expect(libraries).not.toEqual([]);
      for (const library of libraries)
        expect(files.has(library) || [...files.keys()].some((p) => library.startsWith(`${p}/`) && files.get(p)?.type === 'symlink')).toBe(true);
    });

    it('then it has the user and group node, uid and gid 1000, with a home', () => {
      expect(text('/etc/passwd')).toContain(`node:x:${NODE_UID}:${NODE_UID}:`);
      expect(text('/etc/group')).toContain(`node:x:${NODE_UID}:`);
      expect(files.get('/home/node')).toMatchObject({ type: 'dir', uid: NODE_UID, gid: NODE_UID });
    });

    it('then it has a /tmp for everyone', () => {
      expect(files.get('/tmp')).toMatchObject({ type: 'dir', mode: 0o1777 });
    });
  });

  it('when an archive has long names, owners and modes, then GNU tar lists them as written', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpu-dev-tar-test-'));
    try {
      const long = `a/${'b'.repeat(120)}/file.txt`;
      const writer = new TarWriter(join(dir, 'x.tar'));
      writer.add({ type: 'dir', path: '/a', mode: 0o1777 });
      writer.add({ type: 'file', path: long, data: Buffer.from('hi\n'), uid: 1000, gid: 1000, mode: 0o600 });
      writer.add({ type: 'symlink', path: 'a/link', target: `/${long}` });
      const { size } = writer.close();
      const listing = execFileSync('tar', ['--numeric-owner', '-tvf', join(dir, 'x.tar')], { encoding: 'utf8' })
        .trim()
        .split('\n');
      expect(listing).toHaveLength(3);
      expect(listing[0]).toMatch(/^drwxrwxrwt 0\/0 .* a\/$/);
      expect(listing[1]).toMatch(new RegExp(`^-rw------- 1000/1000 +3 .* ${long}$`));
      expect(listing[2]).toMatch(new RegExp(`^lrwxrwxrwx 0/0 .* a/link -> /${long}$`));
      expect(size % 512).toBe(0);
      expect(execFileSync('tar', ['-xOf', join(dir, 'x.tar'), long], { encoding: 'utf8' })).toBe('hi\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('when an image is named as pod specs name it, then it is the name containerd stores', () => {
    expect(normalizedName('node:20-bookworm-slim')).toBe('docker.io/library/node:20-bookworm-slim');
    expect(normalizedName('team/api:1')).toBe('docker.io/team/api:1');
    expect(normalizedName('localhost/gpu-dev-pause:abc')).toBe('localhost/gpu-dev-pause:abc');
    expect(normalizedName('registry.example.com:5000/x/y:2')).toBe('registry.example.com:5000/x/y:2');
  });
});
