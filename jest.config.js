/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // test/cluster/ is the cluster suite (npm run test:cluster, jest.cluster.config.js).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/cluster/'],
  // Type checking is one `tsc --noEmit` in .ci/run; per-file transpiling keeps tests fast.
  transform: { '^.+\\.ts$': 'ts-jest' },
  globalSetup: '<rootDir>/test/support/global-setup.mjs',
  globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
  setupFilesAfterEnv: ['<rootDir>/test/support/setup-after-env.ts', '<rootDir>/test/support/cdktf-matchers.ts'],
  testTimeout: 120000,
  // Two cores: two workers keep PostgreSQL and the tests from starving each other.
  maxWorkers: 2,
  // A worker that loaded the Kubernetes provider's bindings (hundreds of MB of heap) can take
  // more than jest's default 500 ms to exit on a busy two-core machine; that is not a leak.
  workerGracefulExitTimeout: 5000,
};
