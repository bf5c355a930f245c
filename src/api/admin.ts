import { parseArgs } from 'node:util';
import { connectWithRetry } from '../kernel/connection';
import { checkContract, describeContractFailure, SCHEMA_CONTRACT } from '../kernel/contract';
import { ExitCode, ExitError } from '../kernel/exit-codes';
import { lineLogger } from '../kernel/log';
import { loadConfig } from './config';
import { ApiError } from './errors';
import { clientDb, type TransactionalDb } from './repositories/db';
import { findKeys } from './repositories/keys';
import { issueKey, revokeKey, type KeyPolicy } from './services/keys';
import { createUser, findUser } from './services/users';

export const ADMIN_USAGE = `Usage: gpu-dev-api-admin <command>

  create-user <username> [--email EMAIL] [--description TEXT]
      create a user and print a new API key for it
  create-key <username> [--description TEXT]
      print a new API key for an existing user (after the last one expired, say)
  revoke-key <key prefix | key id>
      revoke one key and every key rotated from it; the user's other keys stay valid

A new key is printed once, alone on stdout (only its sha256 is stored); everything else goes
to stderr. Keys expire after API_KEY_TTL_HOURS (default 2); users renew them with
POST /v1/keys/rotate. A user holds at most API_MAX_ACTIVE_KEYS (default 5) usable keys: a new
one revokes the oldest beyond that. The database comes from the API's environment: DATABASE_URL, or
POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB with POSTGRES_HOST and POSTGRES_PORT.

Exit codes: 0 ok, 2 usage (or unknown user, taken name, no such key), 4 cannot connect,
9 the users and keys tables are missing.`;

/** Names as the platform makes them from AWS identities, and safe in logs and messages. */
const USERNAME = /^[A-Za-z0-9._-]{1,255}$/;

function usage(message: string): ApiError {
  return new ApiError(`${message}\n\n${ADMIN_USAGE}`, ExitCode.usage);
}

/** Runs one admin command; returns the exit code. The key goes to `out`, messages to `err`. */
export async function adminMain(argv: readonly string[], env: NodeJS.ProcessEnv, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const log = lineLogger(err, err);
  try {
    const [command, ...args] = argv;
    if (command === '--help' || command === '-h') {
      out(ADMIN_USAGE);
      return ExitCode.ok;
    }
    if (command === undefined) throw usage('no command given');
    // revoke-key takes no options: a key prefix may start with "-" (base64url) and is not one.
    let parsed: { positionals: string[]; values: { email?: string; description?: string } };
    try {
      parsed =
        command === 'revoke-key'
          ? { positionals: args, values: { email: undefined, description: undefined } }
          : parseArgs({ args, allowPositionals: true, options: { email: { type: 'string' }, description: { type: 'string' } } });
    } catch (cause) {
      throw usage((cause as Error).message);
    }
    const [subject, ...extra] = parsed.positionals;
    if (!['create-user', 'create-key', 'revoke-key'].includes(command)) throw usage(`unknown command "${command}"`);
    if (!subject) throw usage(`${command} needs ${command === 'revoke-key' ? 'a key prefix or key id' : 'a username'}`);
    if (extra.length > 0) throw usage(`unexpected argument "${extra[0]}"`);
    if (command !== 'revoke-key' && !USERNAME.test(subject))
      throw usage(`username must be 1 to 255 letters, digits, dots, dashes or underscores, got "${subject}"`);
    const { email, description } = parsed.values;
    if (email !== undefined && !/^[^\s@]+@[^\s@]+$/.test(email)) throw usage(`--email must be an e-mail address, got "${email}"`);

    const config = loadConfig(env);
    const client = await connectWithRetry(config.database, config.connectRetry, log);
    try {
      const report = await checkContract(client, { pgmq: false, contract: { api_users: SCHEMA_CONTRACT.api_users, api_keys: SCHEMA_CONTRACT.api_keys } });
      if (!report.ok) throw new ApiError(describeContractFailure(report, config.database.description, config.namespace), ExitCode.schemaIncomplete);
      const db = clientDb(client);
      if (command === 'create-user') {
        const user = await createUser(db, subject, email ?? null);
        if (!user) throw usage(`user "${subject}" exists; use create-key ${subject} for a new key`);
        err(`created user ${user.username} (user_id ${user.user_id})`);
        await printKey(db, user, config, description ?? 'created with gpu-dev-api-admin create-user', out, err);
      } else if (command === 'create-key') {
        const user = await findUser(db, subject);
        if (!user) throw usage(`no user "${subject}"; use create-user ${subject}`);
        if (!user.is_active)
          err(`warning: user ${subject} is disabled (api_users.is_active = false): the key will be refused with 403 until the user is enabled`);
        await printKey(db, user, config, description ?? 'created with gpu-dev-api-admin create-key', out, err);
      } else {
        const keys = await findKeys(client, subject);
        if (keys.length === 0) throw usage(`no key has the id or prefix "${subject}"`);
        if (keys.length > 1) {
          throw usage(
            `"${subject}" matches ${keys.length} keys; revoke one by its key id:\n${keys.map((k) => `  key_id ${k.key_id}  prefix ${k.key_prefix}  user ${k.username}${k.is_active ? '' : '  (revoked)'}`).join('\n')}`,
          );
        }
        const [key] = keys;
        const revoked = await revokeKey(db, key);
        // Already revoked, yet a key rotated from it may still be live: revoking that is the point.
        if (!revoked.some((r) => r.key_id === key.key_id)) err(`key ${key.key_id} (prefix ${key.key_prefix}) of ${key.username} was already revoked`);
        for (const r of revoked)
          err(`revoked key ${r.key_id} (prefix ${r.key_prefix}) of ${key.username}${r.rotated_from === null ? '' : `, rotated from key ${r.rotated_from}`}`);
      }
      return ExitCode.ok;
    } finally {
      await client.end().catch(() => undefined);
    }
  } catch (error) {
    const exitCode = error instanceof ExitError ? error.exitCode : ExitCode.internal;
    log.error(error instanceof ExitError ? error.message : `unexpected error: ${(error as Error)?.stack ?? String(error)}`);
    return exitCode;
  }
}

async function printKey(
  db: TransactionalDb,
  user: { user_id: number; username: string },
  policy: KeyPolicy,
  description: string,
  out: (line: string) => void,
  err: (line: string) => void,
) {
  const { issued, overLimit } = await issueKey(db, user, policy, { description });
  err(`new API key for ${issued.username}, prefix ${issued.key_prefix}, expires ${issued.expires_at.toISOString()} (shown once; only its hash is stored):`);
  for (const r of overLimit)
    err(`revoked key ${r.key_id} (prefix ${r.key_prefix}) of ${issued.username}: over API_MAX_ACTIVE_KEYS (${policy.maxActiveKeys}) usable keys, oldest first`);
  out(issued.api_key);
}

if (require.main === module) {
  void adminMain(
    process.argv.slice(2),
    process.env,
    (line) => process.stdout.write(`${line}\n`),
    (line) => process.stderr.write(`${line}\n`),
  ).then((code) => {
    process.exitCode = code;
  });
}
