import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyOfDatabaseFolders } from '../support/runner';
import { only, runnerBytes, synthStack } from '../support/stack';

/** The Job name and the hash it passes, as synthesized from these folders and runner bytes. */
function synthesizedJob(dirs: { schemaDir: string; fixturesDir: string }, runner = runnerBytes()) {
  const { json } = synthStack({}, { schemaDir: dirs.schemaDir, fixturesDir: dirs.fixturesDir, runnerBytes: runner });
  const job = only(json, 'kubernetes_job_v1');
  const args: string[] = job.spec.template.spec.container[0].args;
  return { name: job.metadata.name as string, hash: args[args.indexOf('--expected-hash') + 1] };
}

/** Flips one byte of a file in place (a letter's case inside a comment or a value). */
function changeOneByte(path: string, find: string, replace: string): void {
  const text = readFileSync(path, 'utf8');
  expect(text).toContain(find);
  expect(Buffer.byteLength(find)).toBe(Buffer.byteLength(replace));
  writeFileSync(path, text.replace(find, replace));
}

describe('the Job name follows everything the Job applies, and nothing else', () => {
  const base = synthesizedJob(copyOfDatabaseFolders());

  it('when the same files and runner are synthesized again from another copy, then the Job name is the same', () => {
    expect(base.name).toMatch(/^db-migration-[0-9a-f]{12}$/);
    expect(base.name).toBe(`db-migration-${base.hash.slice(0, 12)}`);
    expect(synthesizedJob(copyOfDatabaseFolders())).toEqual(base);
  });

  it('when one byte of a schema file changes, then the Job name changes', () => {
    const dirs = copyOfDatabaseFolders();
    changeOneByte(join(dirs.schemaDir, '003_disks.sql'), 'disks', 'Disks');
    expect(synthesizedJob(dirs).name).not.toBe(base.name);
  });

  it('when one byte of a fixture file changes, then the Job name changes', () => {
    const dirs = copyOfDatabaseFolders();
    changeOneByte(join(dirs.fixturesDir, '001_initial_gpu_types.sql'), 'NVIDIA H100 80 GB', 'NVIDIA H100 81 GB');
    expect(synthesizedJob(dirs).name).not.toBe(base.name);
  });

  it('when one byte of the runner changes, then the Job name changes', () => {
    const runner = Buffer.from(runnerBytes());
    runner[runner.length - 1] = runner[runner.length - 1] === 0x0a ? 0x20 : 0x0a;
    expect(synthesizedJob(copyOfDatabaseFolders(), runner).name).not.toBe(base.name);
  });

  it('when a file is renamed (same bytes, same order), then the Job name changes', () => {
    const dirs = copyOfDatabaseFolders();
    renameSync(join(dirs.schemaDir, '004_gpu_types.sql'), join(dirs.schemaDir, '004_gpu_type_settings.sql'));
    expect(synthesizedJob(dirs).name).not.toBe(base.name);
  });

  it('when an unrelated file next to the SQL changes, then the Job name stays', () => {
    const dirs = copyOfDatabaseFolders();
    writeFileSync(join(dirs.root, 'README.md'), '# notes that are not SQL\n');
    expect(synthesizedJob(dirs)).toEqual(base);
  });
});
