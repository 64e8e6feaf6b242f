// Opens a home's store (its SQLite file, or the PostgreSQL database named by --database) with the audit key and signing-key KEK kept in the home, all owner-only.

import { createHmac, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { kekFromBytes, type Kek } from '../auth/key-sealing.js';
import { prepareSigningKeys, signingKeySource, type RotatableKekSource, type SigningKeySource } from '../auth/signing-keys.js';
import { homePaths, parseDatabaseLocation, type DatabaseLocation, type HomePaths } from '../config/service-config.js';
import { DeployrError } from '../domain/errors.js';
import type { Store } from '../engine/ports.js';
import { keyCheckValue } from '../store/audit-chain.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import { OWNER_ONLY, tightenHome, tightenedWarning } from './home-permissions.js';

/** An open store with the keys derived from the home's secret key. */
export interface OpenedStore {
  store: Store;
  paths: HomePaths;
  /** Where the store is: the SQLite file or the PostgreSQL database. */
  database: DatabaseLocation;
  /** Keys the throttle's short digests of wrong values. */
  digestKey: Buffer;
}

/** Reads a 32-byte key kept as 64 hex digits, making it (owner-only) on first use. */
function keyFile(file: string, create: boolean): Buffer | null {
  if (!existsSync(file)) {
    if (!create) return null;
    mkdirSync(dirname(file), { recursive: true, mode: OWNER_ONLY.dir });
    try {
      writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: OWNER_ONLY.file, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
  if (key.length !== 32) throw new Error(`${file} is damaged (expected 64 hex digits).`);
  return key;
}

/**
 * Opens (creating when needed) the home and its store. `serve` and `configure` create a home that
 * does not exist yet; every other command passes `mustExist`, so a mistyped `--home` is an error
 * naming it rather than a new, empty server (an `audit verify` that finds nothing to check would say
 * "intact"). The home is made 0700 and whatever under it is open to other users is tightened (a
 * `WARNING:` line goes to `warn`); a SQLite file is made 0600 before SQLite opens it, so its
 * `-wal` and `-shm` (which SQLite creates with the database file's mode) are 0600 too. `deep` also
 * walks the content library (`serve` does). The store is `DEPLOYR_DATABASE_URL` (`--database`) when
 * set. A store written by nodes holding a different audit key is refused: every node of one database
 * must carry the same `audit.key` (and `keys/signing-kek`), or the chain they write would not verify.
 */
export async function openHomeStore(home: string, options: { warn?: (line: string) => void; deep?: boolean; mustExist?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<OpenedStore> {
  if (options.mustExist && !existsSync(home)) {
    throw new DeployrError('INVALID_INPUT', `There is no deployr home at ${home}: check --home or DEPLOYR_HOME (only deployr serve and deployr configure make a new one).`);
  }
  const env = options.env ?? process.env;
  const paths = homePaths(home, env);
  const database = parseDatabaseLocationOrRefuse(env.DEPLOYR_DATABASE_URL, paths.database);
  mkdirSync(home, { recursive: true, mode: OWNER_ONLY.dir });
  const warning = tightenedWarning(home, tightenHome(home, options.deep ?? false));
  if (warning) (options.warn ?? ((line: string) => process.stderr.write(line + '\n')))(warning);
  const key = keyFile(paths.auditKey, true) as Buffer;
  const auditKey = chainKey(key);
  let store: Store;
  if (database.kind === 'sqlite') {
    mkdirSync(dirname(database.file), { recursive: true, mode: OWNER_ONLY.dir });
    if (!existsSync(database.file)) closeSync(openSync(database.file, 'a', OWNER_ONLY.file));
    store = openSqliteStore(database.file, auditKey);
  } else {
    // Loaded only when asked for: the commands on the embedded default never pay for the PostgreSQL driver.
    const { openPostgresStore } = await import('../store/postgres/postgres-store.js');
    store = await openPostgresStore(database.url, auditKey);
  }
  let same: boolean;
  try { same = await store.recordKeyCheck(keyCheckValue(auditKey)); } catch (err) { await store.close(); throw err; }
  if (!same) {
    await store.close();
    throw new DeployrError('INTEGRITY', `${paths.auditKey} is not the audit key this database was written with: every node sharing a database needs the same audit.key and keys/signing-kek (copy them from the first node; docs/scale-out.md). Nothing was changed.`);
  }
  return { store, paths, database, digestKey: createHmac('sha256', key).update('throttle-digest').digest() };
}

/** The key of the audit chain's HMAC, derived from the home's audit.key. */
function chainKey(key: Buffer): Buffer {
  return createHmac('sha256', key).update('audit-chain').digest();
}

/** The audit chain's key of an existing home (`db copy` verifies the chain it copied with it); INVALID_INPUT when the home has no audit.key. */
export function homeAuditChainKey(home: string): Buffer {
  const key = keyFile(homePaths(home).auditKey, false);
  if (!key) throw new DeployrError('INVALID_INPUT', `There is no audit.key in ${home}: give the home of the install being copied (--home or DEPLOYR_HOME).`);
  return chainKey(key);
}

/** `parseDatabaseLocation` with its refusal as a DeployrError (a one-line INVALID_INPUT). */
function parseDatabaseLocationOrRefuse(value: string | undefined, homeDatabase: string): DatabaseLocation {
  try { return parseDatabaseLocation(value, homeDatabase); } catch (err) { throw new DeployrError('INVALID_INPUT', (err as Error).message + '.'); }
}

/** Fsyncs a folder so a rename inside it survives a crash (best effort). */
function syncDir(dir: string): void {
  try { const fd = openSync(dir, 'r'); try { fsyncSync(fd); } finally { closeSync(fd); } } catch { /* some platforms cannot */ }
}

/** Writes a key file (64 hex digits, owner-only) and syncs it and its folder. */
function writeSynced(path: string, bytes: Buffer): void {
  rmSync(path, { force: true });
  const fd = openSync(path, 'wx', OWNER_ONLY.file);
  try { writeSync(fd, bytes.toString('hex') + '\n'); fsyncSync(fd); } finally { closeSync(fd); }
  syncDir(dirname(path));
}

/** The KEK file of a home (`keys/signing-kek`, and `keys/signing-kek.next` while it is being replaced). */
export function kekFile(paths: HomePaths): RotatableKekSource {
  const file = paths.signingKek;
  const next = `${file}.next`;
  /** The bytes this process wrote as the pending KEK (a start running meanwhile may have removed the file). */
  let written: Buffer | null = null;
  return {
    file,
    read: () => { const bytes = keyFile(file, false); return bytes && kekFromBytes(bytes, file); },
    create: () => kekFromBytes(keyFile(file, true) as Buffer, file),
    readPending: () => { const bytes = keyFile(next, false); return bytes && kekFromBytes(bytes, file); },
    writePending: () => {
      mkdirSync(dirname(next), { recursive: true, mode: OWNER_ONLY.dir });
      const bytes = randomBytes(32);
      writeSynced(next, bytes);
      written = bytes;
      return kekFromBytes(bytes, file);
    },
    settlePending: (committed) => {
      if (committed && written) {
        // From memory, not from the .next file: a start running meanwhile may have dropped that file.
        writeSynced(`${file}.tmp-${process.pid}`, written);
        renameSync(`${file}.tmp-${process.pid}`, file);
        rmSync(next, { force: true });
      } else if (committed) {
        renameSync(next, file);
      } else {
        rmSync(next, { force: true });
      }
      written = null;
      syncDir(dirname(file));
    },
  };
}

/**
 * Makes the signing keys ready (see `prepareSigningKeys`: the KEK is made on first start, plain
 * keys of an earlier version are sealed, a missing KEK is refused) and returns what the token
 * service reads them through.
 */
export async function openSigningKeys(opened: OpenedStore): Promise<{ kek: Kek; source: SigningKeySource }> {
  const source = kekFile(opened.paths);
  const kek = await prepareSigningKeys(opened.store, source);
  return { kek, source: signingKeySource(opened.store, kek, source) };
}
