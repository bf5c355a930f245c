import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative } from 'node:path';
import { API_PROGRAMS, buildApiBundles } from '../src/build/api-bundle';
import { REPO_ROOT } from '../src/build/repository';
import { buildRunnerBundle } from '../src/build/runner-bundle';
import { NODE_IMAGE } from '../src/stack/constructs/database-migration';
import { TarWriter, type TarEntry } from './tar';

/**
 * Container images without a registry or a docker engine: each is a list of tar entries (one
 * layer each) and an image config, written as a docker-archive tarball that
 * `ctr images import` reads. Three images:
 *
 * - NODE_IMAGE (`node:20-bookworm-slim`, the Job's image with GPU_DEV_RUNNER_SOURCE=configmap): this host's own
 *   Node 20 binary at /usr/local/bin/node with the shared libraries `ldd` names, /etc/passwd and
 *   /etc/group with uid/gid 1000 `node`, /tmp, /home/node.
 * - API_IMAGE (`gpu-dev-api:0.1.0`, the product image: the API and the migration runner): the Dockerfile's final stage applied by `apiImageRecipe` on
 *   that base, instruction by instruction (it refuses one it does not know, so the two cannot
 *   drift apart silently; test/harness/images.test.ts holds that in the normal suite).
 * - the pause image: the toolchain's static `pause` program, the node's sandbox image.
 *
 * Archives are cached per content hash (every entry's bytes, modes and owners, and the config)
 * in `<toolchain cache>/images/`, so a second run only imports.
 */

export { NODE_IMAGE };
export const API_IMAGE = 'gpu-dev-api:0.1.0';
export const NODE_UID = 1000;

/** Bump to throw away every cached archive (a change of how archives are written). */
const FORMAT = 'gpu-dev-images-1';

interface ImageConfig {
  readonly Env: readonly string[];
  readonly Cmd?: readonly string[];
  readonly Entrypoint?: readonly string[];
  readonly WorkingDir?: string;
  readonly User?: string;
  readonly ExposedPorts?: Readonly<Record<string, Record<string, never>>>;
}

interface Layer {
  /** What made it (the image config's history). */
  readonly createdBy: string;
  readonly entries: readonly TarEntry[];
}

export interface ImageRecipe {
  /** As the pod spec names it (`ctr` stores it normalized: docker.io/library/…). */
  readonly name: string;
  readonly layers: readonly Layer[];
  readonly config: ImageConfig;
}

// --- entries from the host -------------------------------------------------------------------

/** Every parent folder of `path` (image paths, absolute), outermost first. */
function parents(path: string): string[] {
  const out: string[] = [];
  for (let dir = posix.dirname(path); dir !== '/'; dir = posix.dirname(dir)) out.unshift(dir);
  return out;
}

/**
 * Entries that make `path` resolve in the image as it does on the host: each symbolic link on
 * the way (Debian's merged /usr: /lib -> usr/lib) as a link, the file itself as a copy.
 */
function hostPathEntries(path: string, seen: Set<string>, depth = 0): TarEntry[] {
  if (depth > 16) throw new Error(`too many symbolic links resolving ${path}`);
  const parts = path.split('/').filter(Boolean);
  let current = '';
  const out: TarEntry[] = [];
  for (let i = 0; i < parts.length; i++) {
    current = `${current}/${parts[i]}`;
    const stat = lstatSync(current);
    if (stat.isSymbolicLink()) {
      const target = readlinkSync(current);
      if (!seen.has(current)) {
        seen.add(current);
        out.push({ type: 'symlink', path: current, target });
      }
      const resolved = posix.resolve(posix.dirname(current), target);
      return [...out, ...hostPathEntries(posix.join(resolved, ...parts.slice(i + 1)), seen, depth + 1)];
    }
    if (i === parts.length - 1) {
      if (!stat.isFile()) throw new Error(`${current} is not a file`);
      if (!seen.has(current)) {
        seen.add(current);
        out.push({ type: 'copy', path: current, source: current, mode: stat.mode & 0o755 });
      }
    } else if (!seen.has(current)) {
      seen.add(current);
      out.push({ type: 'dir', path: current });
    }
  }
  return out;
}

/** The shared libraries `ldd` names for a binary (absolute paths, the vDSO left out). */
export function sharedLibraries(binary: string): string[] {
  const output = execFileSync('ldd', [binary], { encoding: 'utf8' });
  return [...output.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/g)].map((m) => m[1]);
}

const PASSWD = `root:x:0:0:root:/root:/usr/sbin/nologin\nnode:x:${NODE_UID}:${NODE_UID}::/home/node:/usr/sbin/nologin\n`;
const GROUP = `root:x:0:\nnode:x:${NODE_UID}:\n`;
// Names resolve from /etc/hosts only (the kubelet writes it): nothing in a pod asks a DNS server.
const NSSWITCH = 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n';
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** NODE_IMAGE from this host's Node (v20.x, as the real image's). */
export function nodeBaseRecipe(nodeBinary = process.execPath): ImageRecipe {
  const version = execFileSync(nodeBinary, ['--version'], { encoding: 'utf8' }).trim();
  if (!/^v20\./.test(version)) throw new Error(`${nodeBinary} is Node ${version}; the image ${NODE_IMAGE} needs Node 20`);
  const seen = new Set<string>();
  const entries: TarEntry[] = [
    { type: 'dir', path: '/etc' },
    { type: 'file', path: '/etc/passwd', data: Buffer.from(PASSWD) },
    { type: 'file', path: '/etc/group', data: Buffer.from(GROUP) },
    { type: 'file', path: '/etc/nsswitch.conf', data: Buffer.from(NSSWITCH) },
    { type: 'dir', path: '/tmp', mode: 0o1777 },
    { type: 'dir', path: '/root', mode: 0o700 },
    { type: 'dir', path: '/home' },
    { type: 'dir', path: '/home/node', uid: NODE_UID, gid: NODE_UID },
    { type: 'dir', path: '/usr' },
    { type: 'dir', path: '/usr/local' },
    { type: 'dir', path: '/usr/local/bin' },
    { type: 'copy', path: '/usr/local/bin/node', source: nodeBinary, mode: 0o755 },
  ];
  for (const entry of entries) seen.add(entry.path);
  for (const library of sharedLibraries(nodeBinary)) entries.push(...hostPathEntries(library, seen));
  return {
    name: NODE_IMAGE,
    layers: [{ createdBy: `host node ${version} with the libraries ldd names; uid ${NODE_UID} node`, entries }],
    config: { Env: [PATH_ENV, `NODE_VERSION=${version.slice(1)}`], Cmd: ['node'] },
  };
}

/** The sandbox image: the toolchain's static pause program. */
export function pauseRecipe(pauseBinary: string): ImageRecipe {
  const digest = createHash('sha256').update(readFileSync(pauseBinary)).digest('hex');
  return {
    name: `localhost/gpu-dev-pause:${digest.slice(0, 12)}`,
    layers: [{ createdBy: 'harness/toolchain/pause', entries: [{ type: 'copy', path: '/pause', source: pauseBinary, mode: 0o755 }] }],
    config: { Env: [PATH_ENV], Entrypoint: ['/pause'] },
  };
}

// --- the Dockerfile ------------------------------------------------------------------------------

interface Instruction {
  readonly line: number;
  readonly keyword: string;
  readonly args: string;
}

interface Stage {
  readonly from: string;
  readonly alias?: string;
  readonly instructions: readonly Instruction[];
}

/** The Dockerfile's stages and instructions (comments dropped, continuation lines joined). */
function parseDockerfile(text: string): Stage[] {
  const stages: { from: string; alias?: string; instructions: Instruction[] }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = lines[i].trim();
    if (!line || line.startsWith('#')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1).trim()} ${lines[++i].trim()}`;
    const match = /^(\w+)\s+(.*)$/.exec(line);
    if (!match) throw new Error(`Dockerfile line ${start}: cannot read "${line}"`);
    const keyword = match[1].toUpperCase();
    const args = match[2].trim();
    if (keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!from) throw new Error(`Dockerfile line ${start}: cannot read FROM ${args}`);
      stages.push({ from: from[1], alias: from[2], instructions: [] });
    } else {
      if (stages.length === 0) throw new Error(`Dockerfile line ${start}: ${keyword} before FROM`);
      stages[stages.length - 1].instructions.push({ line: start, keyword, args });
    }
  }
  return stages;
}

/** JSON (exec) form only: ["node", "x.js"]. */
function execForm(instruction: Instruction): string[] {
  try {
    const parsed: unknown = JSON.parse(instruction.args);
    if (Array.isArray(parsed) && parsed.every((p) => typeof p === 'string')) return parsed;
  } catch {
    // Shell form: refused below.
  }
  throw new Error(`Dockerfile line ${instruction.line}: ${instruction.keyword} must be in exec form (["…"]), got ${instruction.args}`);
}

/** Top-level names of .dockerignore (the only form this repository's file uses). */
function dockerIgnored(): Set<string> {
  const file = join(REPO_ROOT, '.dockerignore');
  if (!existsSync(file)) return new Set();
  return new Set(
    readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#')),
  );
}

/** A host folder's contents as entries under `target` (root-owned, modes kept), without `skip` names at its top. */
function folderEntries(source: string, target: string, skip: ReadonlySet<string> = new Set()): TarEntry[] {
  const out: TarEntry[] = [];
  const walk = (dir: string, into: string, top: boolean) => {
    for (const name of readdirSync(dir).sort()) {
      if (top && skip.has(name)) continue;
      const from = join(dir, name);
      const to = posix.join(into, name);
      const stat = lstatSync(from);
      if (stat.isSymbolicLink()) out.push({ type: 'symlink', path: to, target: readlinkSync(from) });
      else if (stat.isDirectory()) {
        out.push({ type: 'dir', path: to });
        walk(from, to, false);
      } else if (stat.isFile()) out.push({ type: 'copy', path: to, source: from, mode: stat.mode & 0o777 });
    }
  };
  walk(source, target, true);
  return out;
}

/** What `npm ci --omit=dev` puts in node_modules: every non-dev package of the lock file, from this checkout's node_modules. */
function productionModules(target: string): { entries: TarEntry[]; packages: string[] } {
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; optional?: boolean; link?: boolean }>;
  };
  const entries: TarEntry[] = [];
  const packages: string[] = [];
  for (const [path, meta] of Object.entries(lock.packages).sort(([a], [b]) => a.localeCompare(b))) {
    if (!path || meta.dev || meta.link) continue;
    const source = join(REPO_ROOT, path);
    if (!existsSync(source)) {
      if (meta.optional) continue; // an optional package npm did not install on this platform
      throw new Error(`${path} is in package-lock.json but not installed: run npm ci`);
    }
    packages.push(path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
    const into = posix.join(target, path);
    for (const dir of [...parents(into).filter((d) => d.startsWith(target) && d !== target), into]) entries.push({ type: 'dir', path: dir });
    // Nested node_modules are lock entries of their own.
    entries.push(...folderEntries(source, into, new Set(['node_modules'])));
  }
  return { entries, packages };
}

interface DockerfileStep {
  readonly line: number;
  readonly instruction: string;
  /** What the assembler did for it. */
  readonly applied: string;
}

export interface ApiImageAssembly {
  readonly recipe: ImageRecipe;
  /** The final stage's base image (FROM). */
  readonly base: string;
  /** Every instruction of every stage, with what was done for it. */
  readonly steps: readonly DockerfileStep[];
}

/**
 * API_IMAGE as the Dockerfile builds it, without docker: each instruction of each stage is
 * applied the way it means here (the build stage's `npm run build:api` is buildApiBundles into
 * `buildDir`; the final stage's `npm ci --omit=dev` is the lock file's production packages from
 * this checkout's node_modules). An instruction it does not know is an error naming the line.
 */
export function apiImageRecipe(options: { readonly buildDir: string; readonly dockerfile?: string }): ApiImageAssembly {
  const stages = parseDockerfile(options.dockerfile ?? readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
  if (stages.length === 0) throw new Error('the Dockerfile has no FROM');
  const steps: DockerfileStep[] = [];
  const ignored = dockerIgnored();
  /** Per stage alias: image path -> host file it produced. */
  const outputs = new Map<string, Map<string, string>>();
  const fail = (i: Instruction, why: string): never => {
    throw new Error(
      `Dockerfile line ${i.line}: ${i.keyword} ${i.args}: ${why} (harness/images.ts apiImageRecipe applies the Dockerfile without docker; teach it this instruction)`,
    );
  };

  const final = stages[stages.length - 1];
  const entries: TarEntry[] = [];
  const env: string[] = [];
  let workdir = '/';
  let user: string | undefined;
  let cmd: string[] | undefined;
  const exposed: Record<string, Record<string, never>> = {};

  for (const stage of stages) {
    const isFinal = stage === final;
    const produced = new Map<string, string>();
    if (stage.alias) outputs.set(stage.alias, produced);
    let stageWorkdir = '/';
    for (const i of stage.instructions) {
      const step = (applied: string) => steps.push({ line: i.line, instruction: `${i.keyword} ${i.args}`, applied });
      const resolveIn = (path: string) => (path.startsWith('/') ? path : posix.join(stageWorkdir, path));
      switch (i.keyword) {
        case 'WORKDIR':
          stageWorkdir = resolveIn(i.args);
          if (isFinal) {
            workdir = stageWorkdir;
            for (const dir of [...parents(workdir), workdir]) entries.push({ type: 'dir', path: dir });
          }
          step(`working folder ${stageWorkdir}`);
          break;
        case 'ENV': {
          const pairs = [...i.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)].map((m) => `${m[1]}=${m[2].replace(/^"|"$/g, '')}`);
          if (pairs.length === 0) fail(i, 'only the KEY=value form is read');
          if (isFinal) env.push(...pairs);
          step(isFinal ? `environment ${pairs.join(' ')}` : 'build-stage environment (not in the image)');
          break;
        }
        case 'USER':
          if (isFinal) user = i.args;
          step(isFinal ? `user ${i.args}` : 'build-stage user');
          break;
        case 'EXPOSE':
          for (const port of i.args.split(/\s+/)) exposed[port.includes('/') ? port : `${port}/tcp`] = {};
          step(`exposes ${i.args}`);
          break;
        case 'CMD':
          cmd = execForm(i);
          step(`command ${JSON.stringify(cmd)}`);
          break;
        case 'COPY': {
          const words = i.args.split(/\s+/);
          const from = words[0].startsWith('--from=') ? words.shift()!.slice('--from='.length) : undefined;
          if (words.some((w) => w.startsWith('--'))) fail(i, 'only --from= is understood');
          const dest = words.pop()!;
          if (words.length === 0) fail(i, 'no source');
          const toFolder = dest.endsWith('/') || words.length > 1;
          const target = resolveIn(dest);
          if (!isFinal) {
            // The build stage's sources are this checkout itself.
            for (const w of words) if (!existsSync(join(REPO_ROOT, w))) fail(i, `${w} is not in the checkout`);
            step('build-stage sources: this checkout');
            break;
          }
          if (toFolder) for (const dir of [...parents(`${target}/x`)]) entries.push({ type: 'dir', path: dir });
          for (const source of words) {
            const into = toFolder ? posix.join(target, posix.basename(source)) : target;
            if (from !== undefined) {
              const host = outputs.get(from)?.get(posix.normalize(source));
              if (!host) fail(i, `stage ${from} makes no ${source} here`);
              entries.push({ type: 'copy', path: into, source: host!, mode: 0o644 });
            } else {
              if (ignored.has(source.split('/')[0])) fail(i, `${source} is excluded by .dockerignore`);
              const host = join(REPO_ROOT, source);
              if (!existsSync(host)) fail(i, `${source} is not in the checkout`);
              if (statSync(host).isDirectory()) {
                entries.push({ type: 'dir', path: into });
                entries.push(...folderEntries(host, into, ignored));
              } else entries.push({ type: 'copy', path: into, source: host, mode: 0o644 });
            }
          }
          step(`${words.join(', ')} ${from ? `from stage ${from} ` : ''}to ${target.replace(/\/+$/, '')}${toFolder ? '/' : ''}`);
          break;
        }
        case 'RUN': {
          const applied: string[] = [];
          for (const command of i.args.split('&&').map((c) => c.trim().replace(/\s+/g, ' '))) {
            if (command === 'npm ci --ignore-scripts' && !isFinal) applied.push("all dependencies: this checkout's node_modules");
            else if (command === 'npm run build:api' && !isFinal) {
              for (const file of buildApiBundles(options.buildDir)) produced.set(posix.join(stageWorkdir, 'dist', relative(options.buildDir, file)), file);
              applied.push(`buildApiBundles: ${Object.keys(API_PROGRAMS).join(', ')}`);
            } else if (command === 'npm run build' && !isFinal) {
              const runner = join(options.buildDir, 'gpu-dev-db.js');
              mkdirSync(options.buildDir, { recursive: true });
              writeFileSync(runner, buildRunnerBundle());
              produced.set(posix.join(stageWorkdir, 'dist', 'gpu-dev-db.js'), runner);
              applied.push('buildRunnerBundle: gpu-dev-db.js');
            } else if (command === 'npm ci --omit=dev --ignore-scripts' && isFinal) {
              const modules = productionModules(stageWorkdir);
              entries.push(...modules.entries);
              applied.push(`production packages of package-lock.json: ${modules.packages.length}`);
            } else if (command === 'npm cache clean --force') applied.push('nothing (no npm cache is written)');
            else fail(i, `the command "${command}" is not one it knows`);
          }
          step(applied.join('; '));
          break;
        }
        default:
          fail(i, 'unknown instruction');
      }
    }
  }
  if (final.from !== NODE_IMAGE) throw new Error(`the Dockerfile's final stage is FROM ${final.from}; the assembler has ${NODE_IMAGE} only`);
  const base = nodeBaseRecipe();
  // Later entries win in a tar; keep the first of each path so parents are not repeated.
  const unique = new Map<string, TarEntry>();
  for (const entry of entries) {
    const key = entry.path.replace(/\/+$/, '');
    if (!unique.has(key) || entry.type !== 'dir') unique.set(key, entry);
  }
  return {
    base: final.from,
    steps,
    recipe: {
      name: API_IMAGE,
      layers: [...base.layers, { createdBy: 'the Dockerfile, applied by harness/images.ts', entries: [...unique.values()] }],
      config: {
        Env: [...base.config.Env.filter((e) => !env.some((n) => n.split('=')[0] === e.split('=')[0])), ...env],
        Cmd: cmd ?? base.config.Cmd,
        WorkingDir: workdir,
        User: user,
        ExposedPorts: Object.keys(exposed).length ? exposed : undefined,
      },
    },
  };
}

// --- archives ------------------------------------------------------------------------------------

/** Digests of host files already read in this process, by path, size and change time. */
const fileDigests = new Map<string, string>();

function fileDigest(source: string): string {
  const stat = statSync(source);
  const key = `${source}:${stat.size}:${stat.mtimeMs}:${stat.ino}:${stat.mode}`;
  let digest = fileDigests.get(key);
  if (!digest) {
    digest = createHash('sha256').update(readFileSync(source)).update(String(stat.mode)).digest('hex');
    fileDigests.set(key, digest);
  }
  return digest;
}

function entryDigest(entry: TarEntry): string {
  const { type, path } = entry;
  const meta = JSON.stringify({
    type,
    path,
    mode: 'mode' in entry ? entry.mode : undefined,
    uid: 'uid' in entry ? entry.uid : 0,
    gid: 'gid' in entry ? entry.gid : 0,
    target: 'target' in entry ? entry.target : undefined,
  });
  const hash = createHash('sha256').update(meta);
  if (entry.type === 'file') hash.update(entry.data);
  if (entry.type === 'copy') hash.update(fileDigest(entry.source));
  return hash.digest('hex');
}

function layerDigest(layer: Layer): string {
  const hash = createHash('sha256').update(`layer ${layer.createdBy}`);
  for (const entry of layer.entries) hash.update(entryDigest(entry));
  return hash.digest('hex');
}

/** The content hash of a recipe: every entry's bytes and metadata, the config and the name. */
function recipeDigest(recipe: ImageRecipe): string {
  const hash = createHash('sha256').update(FORMAT).update(recipe.name).update(JSON.stringify(recipe.config));
  for (const layer of recipe.layers) hash.update(layerDigest(layer));
  return hash.digest('hex');
}

/** Archives kept per label (name, or images-N): each change of the API's sources makes a new one of ~100 MB. */
const KEEP = 2;

/** Removes all but the `keep` most recently used archives of a label, and scratch folders of runs that died. */
function pruneCache(cacheDir: string, label: string, keep: number): void {
  const archives = readdirSync(cacheDir)
    .filter((name) => name.startsWith(`${label}-`) && /-[0-9a-f]{16}\.tar$/.test(name.slice(label.length)))
    .map((name) => ({ path: join(cacheDir, name), used: statSync(join(cacheDir, name)).mtimeMs }))
    .sort((a, b) => b.used - a.used);
  for (const old of archives.slice(keep)) rmSync(old.path, { force: true });
  for (const name of readdirSync(cacheDir)) {
    const path = join(cacheDir, name);
    if (name.startsWith('.tmp-') && Date.now() - statSync(path).mtimeMs > 3_600_000) rmSync(path, { recursive: true, force: true });
  }
}

/**
 * One docker-archive tarball of the recipes (manifest.json with an entry per image, each
 * config, each distinct layer once: images on the same base share its tar), from the cache in
 * `cacheDir` or written there. Returns its path.
 */
export function imageArchive(recipes: ImageRecipe | readonly ImageRecipe[], cacheDir: string): { file: string; cached: boolean; ms: number } {
  const started = Date.now();
  const list = Array.isArray(recipes) ? (recipes as readonly ImageRecipe[]) : [recipes as ImageRecipe];
  const digest = createHash('sha256').update(list.map(recipeDigest).join(' ')).digest('hex');
  const label = list.length === 1 ? list[0].name.replace(/[^a-zA-Z0-9.-]+/g, '_') : `images-${list.length}`;
  const file = join(cacheDir, `${label}-${digest.slice(0, 16)}.tar`);
  if (existsSync(file)) {
    // Its time is its last use, for pruning.
    utimesSync(file, new Date(), new Date());
    return { file, cached: true, ms: Date.now() - started };
  }
  mkdirSync(cacheDir, { recursive: true });
  pruneCache(cacheDir, label, KEEP - 1);
  const work = mkdtempSync(join(cacheDir, '.tmp-'));
  try {
    const written = new Map<string, { sha256: string; file: string }>();
    const archive = new TarWriter(join(work, 'image.tar'));
    const manifest: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
    for (const recipe of list) {
      const layers = recipe.layers.map((layer) => {
        const key = layerDigest(layer);
        let done = written.get(key);
        if (!done) {
          const layerFile = join(work, `layer-${written.size}.tar`);
          const writer = new TarWriter(layerFile);
          for (const entry of layer.entries) writer.add(entry);
          done = { sha256: writer.close().sha256, file: layerFile };
          written.set(key, done);
          archive.add({ type: 'dir', path: done.sha256 });
          archive.add({ type: 'copy', path: `${done.sha256}/layer.tar`, source: layerFile, mode: 0o644 });
        }
        return { ...done, createdBy: layer.createdBy };
      });
      const config = Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          created: '1970-01-01T00:00:00Z',
          config: recipe.config,
          rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${l.sha256}`) },
          history: layers.map((l) => ({ created: '1970-01-01T00:00:00Z', created_by: l.createdBy })),
        }),
      );
      const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
      archive.add({ type: 'file', path: configName, data: config });
      manifest.push({ Config: configName, RepoTags: [recipe.name], Layers: layers.map((l) => `${l.sha256}/layer.tar`) });
    }
    archive.add({ type: 'file', path: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) });
    archive.close();
    renameSync(join(work, 'image.tar'), file);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { file, cached: false, ms: Date.now() - started };
}

/** A scratch folder for the API bundles of one assembly (removed by the caller). */
export function bundleFolder(): string {
  return mkdtempSync(join(tmpdir(), 'gpu-dev-api-image-'));
}

/** How the stack names an image in a pod spec, as containerd stores it. */
export function normalizedName(name: string): string {
  const [first] = name.split('/');
  const hasRegistry = name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasRegistry) return name;
  return name.includes('/') ? `docker.io/${name}` : `docker.io/library/${name}`;
}
