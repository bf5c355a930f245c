import { rmSync } from 'node:fs';

export default async function globalTeardown() {
  const state = globalThis.__GPU_DEV_TEST_PG__;
  if (!state) return;
  await state.server.stop();
  rmSync(state.parent, { recursive: true, force: true });
}
