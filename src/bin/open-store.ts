// Opens the embedded default store under a home: the SQLite file, the audit key and the signing-key KEK kept beside it, all owner-only.

import { createHmac, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { kekFromBytes, type Kek } from '../auth/key-sealing.js';
import { prepareSigningKeys, signingKeySource, type RotatableKekSource, type SigningKeySource } from '../auth/signing-keys.js';
import { homePaths, type HomePaths } from '../config/service-config.js';
import { DeployrError } from '../domain/errors.js';
import type { Store } from '../engine/ports.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import { OWNER_ONLY, tightenHome, tightenedWarning } from './home-permissions.js';

/** An open store with the keys derived from the home's secret key. */
export interface OpenedStore {
  store: Store;
  paths: HomePaths;
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
 * `WARNING:` line goes to `warn`); the database file is made 0600 before SQLite opens it, so its
 * `-wal` and `-shm` (which SQLite creates with the database file's mode) are 0600 too. `deep` also
 * walks the content library (`serve` does).
 */
export function openHomeStore(home: string, options: { warn?: (line: string) => void; deep?: boolean; mustExist?: boolean } = {}): OpenedStore {
  if (options.mustExist && !existsSync(home)) {
    throw new DeployrError('INVALID_INPUT', `There is no deployr home at ${home}: check --home or DEPLOYR_HOME (only deployr serve and deployr configure make a new one).`);
  }
  const paths = homePaths(home);
  mkdirSync(home, { recursive: true, mode: OWNER_ONLY.dir });
  const warning = tightenedWarning(home, tightenHome(home, options.deep ?? false));
  if (warning) (options.warn ?? ((line: string) => process.stderr.write(line + '\n')))(warning);
  if (!existsSync(paths.database)) closeSync(openSync(paths.database, 'a', OWNER_ONLY.file));
  const key = keyFile(paths.auditKey, true) as Buffer;
  const store = openSqliteStore(paths.database, createHmac('sha256', key).update('audit-chain').digest());
  return { store, paths, digestKey: createHmac('sha256', key).update('throttle-digest').digest() };
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
