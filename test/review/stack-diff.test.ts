import { createHash } from 'node:crypto';
import { describeDeployEffect, diffStacks, migrationOf, type StackJson } from '../../src/review/stack-diff';

/** The stack comparison on hand-made cdk.tf.json shapes: what synth does not produce today but a base may. */

const runner = Buffer.from('#!/usr/bin/env node\nconsole.log(`${"template"}`);\n');
const digest = createHash('sha256').update(runner).digest('hex');
const stack = (runnerMap: Record<string, unknown>): StackJson => ({
  resource: {
    kubernetes_config_map_v1: { runner_1: { metadata: { name: 'database-migration-runner', namespace: 'gpu-controlplane' }, ...runnerMap } },
    kubernetes_job_v1: {
      job_1: {
        metadata: { name: 'db-migration-aaaaaaaaaaaa', namespace: 'gpu-controlplane', labels: { app: 'database-migration' } },
        spec: { template: { spec: { container: [{ name: 'migrate', env: [{ name: 'MIGRATION_LOCK_TIMEOUT', value: '500ms' }] }] } } },
      },
    },
  },
  output: { bundle_hash: { value: 'a'.repeat(64) } },
});

describe('the stack comparison', () => {
  it('when a base carries the runner as text (data, template escapes) and the head as binaryData, then both give the same digest, and the move is one sentence', () => {
    const before = stack({ data: { 'gpu-dev-db.js': runner.toString('utf8').replace('${', '$${') } });
    const after = stack({ binary_data: { 'gpu-dev-db.js': runner.toString('base64') } });
    expect(migrationOf(before)).toEqual({
      jobName: 'db-migration-aaaaaaaaaaaa',
      bundleHash: 'a'.repeat(64),
      runnerDigest: digest,
      env: { MIGRATION_LOCK_TIMEOUT: '500ms' },
    });
    expect(migrationOf(after).runnerDigest).toBe(digest);
    const changes = diffStacks(before, after);
    expect(changes.map((c) => [c.action, c.address])).toEqual([['update', 'kubernetes_config_map_v1.runner_1']]);
    expect(describeDeployEffect(before, after, changes).sentences).toEqual([
      'The migration Job keeps its name db-migration-aaaaaaaaaaaa: no migration runs.',
      'ConfigMap gpu-controlplane/database-migration-runner changes in place: gpu-dev-db.js moved from data to binary_data.',
    ]);
  });

  it('when objects appear and go, then they are created and destroyed, and a Job whose name changes is replaced', () => {
    const before = stack({ data: {} });
    const renamed: StackJson = JSON.parse(JSON.stringify(before).replace('db-migration-aaaaaaaaaaaa', 'db-migration-bbbbbbbbbbbb'));
    const extra = {
      ...renamed,
      resource: { ...renamed.resource, kubernetes_service_v1: { svc: { metadata: { name: 'gpu-dev-api', namespace: 'gpu-controlplane' } } } },
    };
    const changes = diffStacks(before, extra);
    expect(changes.map((c) => [c.action, c.kind, c.name, c.previousName])).toEqual([
      ['create', 'Service', 'gpu-controlplane/gpu-dev-api', undefined],
      ['replace', 'Job', 'gpu-controlplane/db-migration-bbbbbbbbbbbb', 'gpu-controlplane/db-migration-aaaaaaaaaaaa'],
    ]);
    expect(changes[1].attributes).toEqual([
      { path: 'metadata.name', before: '"db-migration-aaaaaaaaaaaa"', after: '"db-migration-bbbbbbbbbbbb"', forcesReplacement: true },
    ]);
    expect(describeDeployEffect(before, extra, changes).sentences).toEqual([
      'The migration Job is replaced (db-migration-aaaaaaaaaaaa → db-migration-bbbbbbbbbbbb): the bundle runs on the next apply.',
      'Service gpu-controlplane/gpu-dev-api is created.',
    ]);
    expect(diffStacks(extra, before).map((c) => c.action)).toEqual(['delete', 'replace']);
  });
});
