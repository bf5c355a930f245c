import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/build/repository';
import { DatabaseMigration } from '../../src/stack/constructs/database-migration';
import { synthesize } from '../../src/stack/synth';
import { copyOfDatabaseFolders } from '../support/runner';
import { runnerBytes, testApp } from '../support/stack';

/** A parent folder with an output folder that does not exist yet. */
function outputPlace() {
  const parent = mkdtempSync(join(tmpdir(), 'gpu-dev-guard-'));
  return { parent, outdir: join(parent, 'cdktf.out') };
}

/** Synth must fail with `message`, leaving no output folder and no staging leftovers. */
async function expectRefusedWithNothingWritten(dirs: { schemaDir: string; fixturesDir: string }, message: string | RegExp) {
  const { parent, outdir } = outputPlace();
  await expect(synthesize({ outdir, ...dirs, runnerBytes: runnerBytes() })).rejects.toThrow(message);
  expect(readdirSync(parent)).toEqual([]);
}

describe('synth-time guards', () => {
  it('when one SQL file alone passes the ConfigMap limit, then synth refuses naming the file and its size, and writes nothing', async () => {
    const dirs = copyOfDatabaseFolders();
    const sql = `-- ${'x'.repeat(1_100_000)}\nSELECT 1;\n`;
    writeFileSync(join(dirs.schemaDir, '006_huge.sql'), sql);
    const size = Buffer.byteLength('006_huge.sql') + Buffer.byteLength(sql);
    await expectRefusedWithNothingWritten(
      dirs,
      `file schema/006_huge.sql = "${size} bytes": is larger than one ConfigMap may carry (1000000 bytes of key and value; Kubernetes refuses more than 1048576); split it into several files`,
    );
  });

  it('when files only together pass the limit, then the folder is split over several ConfigMaps instead of refused', async () => {
    const dirs = copyOfDatabaseFolders();
    for (const n of [6, 7, 8]) writeFileSync(join(dirs.schemaDir, `00${n}_big.sql`), `-- ${'x'.repeat(400_000)}\nSELECT ${n};\n`);
    const summary = await synthesize({ ...outputPlace(), ...dirs, runnerBytes: runnerBytes() });
    const suffix = summary.bundleHash.slice(0, 12);
    expect(summary.configMaps.map((c) => c.name)).toEqual([`database-schema-${suffix}`, `database-schema-${suffix}-2`, `database-fixtures-${suffix}`]);
    for (const c of summary.configMaps) expect(c.bytes).toBeLessThanOrEqual(1_000_000);
  });

  it("when a SQL file name breaks NNN_name.sql, then synth refuses with the runner's own message and writes nothing", async () => {
    const dirs = copyOfDatabaseFolders();
    writeFileSync(join(dirs.schemaDir, '5_Extra.sql'), 'SELECT 1;');
    await expectRefusedWithNothingWritten(dirs, `${join(dirs.schemaDir, '5_Extra.sql')}: file name does not match NNN_name.sql (three or more digits`);
  });

  it('when a SQL file is named like a kubelet entry (..006_x.sql), then synth refuses naming it: in the pod the runner would skip it', async () => {
    const dirs = copyOfDatabaseFolders();
    writeFileSync(join(dirs.schemaDir, '..006_x.sql'), 'SELECT 1;');
    await expectRefusedWithNothingWritten(dirs, `${join(dirs.schemaDir, '..006_x.sql')}: a name starting with ".." is what the kubelet calls its own entries`);
  });

  it('when a file reads a server file (pg_read_file), then synth refuses it naming file, line and the setting that allows it', async () => {
    const dirs = copyOfDatabaseFolders();
    writeFileSync(join(dirs.fixturesDir, '002_from_file.sql'), "SELECT pg_read_file('/etc/hostname');\n");
    await expectRefusedWithNothingWritten(
      dirs,
      `${join(dirs.fixturesDir, '002_from_file.sql')}:1:1: pg_read_file() is not allowed: it reaches files on the database server; migrations are reviewed as SQL`,
    );
  });

  it('when the Job name would not be a DNS-1123 label, then the construct refuses naming the prop and the name', () => {
    const build = (jobNamePrefix: string) => () => new DatabaseMigration(testApp(), 'migration', { runnerBytes: runnerBytes(), jobNamePrefix });
    expect(build('DB_Migration')).toThrow(
      /^DatabaseMigration migration prop jobNamePrefix = "DB_Migration": makes the Job name "DB_Migration-[0-9a-f]{12}", which must be a DNS-1123 label/,
    );
    expect(build('x'.repeat(51))).toThrow(/makes the Job name "x{51}-[0-9a-f]{12}", which must be a DNS-1123 label: .* at most 63 characters/);
    expect(new DatabaseMigration(testApp(), 'migration', { runnerBytes: runnerBytes(), jobNamePrefix: 'x'.repeat(50) }).jobName).toHaveLength(63);
  });

  it('when a synth is refused after an earlier one succeeded, then the earlier output stays byte for byte', async () => {
    const place = outputPlace();
    const dirs = copyOfDatabaseFolders();
    const first = await synthesize({ ...place, ...dirs, runnerBytes: runnerBytes() });
    const before = readFileSync(join(place.outdir, 'stacks', first.stackName, 'cdk.tf.json'));
    writeFileSync(join(dirs.fixturesDir, '002_empty.sql'), '-- nothing yet\n');
    await expect(synthesize({ ...place, ...dirs, runnerBytes: runnerBytes() })).rejects.toThrow('002_empty.sql: is empty (no SQL statement)');
    expect(readFileSync(join(place.outdir, 'stacks', first.stackName, 'cdk.tf.json')).equals(before)).toBe(true);
    expect(readdirSync(place.parent)).toEqual(['cdktf.out']);
  });

  describe('when a setting is invalid and `npm run synth` runs', () => {
    let place: ReturnType<typeof outputPlace>;
    let result: { code: number | null; stdout: string; stderr: string };
    beforeAll(async () => {
      place = outputPlace();
      result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(
          join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
          ['main.ts'],
          {
            cwd: REPO_ROOT,
            env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', CDKTF_OUTDIR: place.outdir, GPU_DEV_NAMESPACE: 'GPU_Controlplane' },
          },
          (error, stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
        );
      });
    });

    it('then it exits 1', () => {
      expect(result.code).toBe(1);
    });

    it('then it prints nothing on stdout', () => {
      expect(result.stdout).toBe('');
    });

    it('then stderr is one line naming the setting, the value and the rule', () => {
      expect(result.stderr).toBe(
        'synth refused, nothing written: GPU_DEV_NAMESPACE (setting namespace) = "GPU_Controlplane": must be a DNS-1123 label: ' +
          'lower-case letters, digits and "-", starting and ending with a letter or digit, at most 63 characters\n',
      );
    });

    it('then it writes nothing', () => {
      expect(existsSync(place.outdir)).toBe(false);
      expect(readdirSync(place.parent)).toEqual([]);
    });
  });
});
