// Bundles the migration runner (src/runner/cli/main.ts) into one CommonJS file and writes it to
// stdout. Called by runner-bundle.ts in a child process: esbuild plugins need its async API,
// and synth, which embeds the bundle in the stack, is synchronous.
import { build } from 'esbuild';
import { deflateSync } from 'fflate';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * libpg-query reads its WebAssembly file from beside its own script; the bundle has no such
 * file, so the plugin hands the module the bytes instead, deflated to fit a ConfigMap.
 * fflate (pinned) compresses the same way on every machine, so the bundle stays byte-stable.
 */
const embedParserWasm = {
  name: 'embed-libpg-query-wasm',
  setup(pluginBuild) {
    pluginBuild.onLoad({ filter: /libpg-query[\\/]wasm[\\/]index\.cjs$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const factoryCall = '(0, libpg_query_js_1.default)()';
      if (!source.includes(factoryCall)) {
        throw new Error(`${args.path} no longer contains ${factoryCall}: libpg-query changed how it loads its WebAssembly; update src/build/bundle-runner.mjs`);
      }
      const wasm = Buffer.from(deflateSync(readFileSync(join(dirname(args.path), 'libpg-query.wasm')), { level: 9 }));
      // This emscripten build ignores Module.wasmBinary but honours Module.instantiateWasm.
      const embedded =
        `{ instantiateWasm(imports, done) { WebAssembly.instantiate(require('node:zlib').inflateRawSync(Buffer.from(${JSON.stringify(wasm.toString('base64'))}, 'base64')), imports)` +
        '.then((result) => done(result.instance)); return {}; } }';
      return { contents: source.replace(factoryCall, `(0, libpg_query_js_1.default)(${embedded})`), loader: 'js' };
    });
  },
};

const result = await build({
  // Paths in the output are relative to the repository: the same bytes in any checkout.
  absWorkingDir: root,
  entryPoints: [join('src', 'runner', 'cli', 'main.ts')],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  write: false,
  charset: 'ascii',
  legalComments: 'eof',
  // Names stay, so stack traces in `kubectl logs` still read; whitespace goes, for ConfigMap room.
  minifyWhitespace: true,
  // pg loads its optional native binding only when asked for; the runner never asks.
  external: ['pg-native'],
  // pg probes for Cloudflare Workers through the `navigator` and `Response` globals; on Node 20
  // touching either loads its whole fetch implementation (undici), ~60 ms of every run's start.
  // The runner only ever runs on Node, where the probe's answer is "no".
  define: { navigator: 'undefined', Response: 'undefined' },
  plugins: [embedParserWasm],
  logLevel: 'error',
});
process.stdout.write(result.outputFiles[0].contents);
