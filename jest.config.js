/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Type checking is one `tsc --noEmit` in .ci/run; per-file transpiling keeps tests fast.
  transform: { '^.+\\.ts$': 'ts-jest' },
  globalSetup: '<rootDir>/test/support/global-setup.mjs',
  globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
  setupFilesAfterEnv: ['<rootDir>/test/support/setup-after-env.ts', '<rootDir>/test/support/cdktf-matchers.ts'],
  testTimeout: 120000,
  // Two cores: two workers keep PostgreSQL and the tests from starving each other.
  maxWorkers: 2,
};
