/**
 * The cluster suite (npm run test:cluster): test/cluster/, against the toolchain's control plane,
 * OpenTofu and the real providers (harness/README.md). Apart from `npm test`, which needs no Go.
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/cluster'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  // One file at a time: clusters must not be created at the same moment (kwokctl collides), and
  // two cores are busy enough with one control plane and tofu.
  maxWorkers: 1,
  testTimeout: 600000,
  workerGracefulExitTimeout: 10000,
};
