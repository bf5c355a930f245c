import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DATABASE_FOLDERS } from '../build/repository';

/** A writable copy of the product's database/ folders, for runs that edit or add files. */
export function copyOfDatabaseFolders(): { root: string; schemaDir: string; fixturesDir: string } {
  const root = mkdtempSync(join(tmpdir(), 'gpu-dev-sql-'));
  cpSync(DATABASE_FOLDERS.schemaDir, join(root, 'schema'), { recursive: true });
  cpSync(DATABASE_FOLDERS.fixturesDir, join(root, 'fixtures'), { recursive: true });
  return { root, schemaDir: join(root, 'schema'), fixturesDir: join(root, 'fixtures') };
}
