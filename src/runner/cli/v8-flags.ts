import { setFlagsFromString } from 'node:v8';

// Imported first by the CLI, before the SQL parser's WebAssembly is compiled: baseline-only,
// lazily compiled WebAssembly keeps the runner's peak memory near 70 MiB instead of ~115 MiB
// (bench/results.md); parsing a bundle is not where its time goes.
setFlagsFromString('--liftoff-only');
setFlagsFromString('--wasm-lazy-compilation');
