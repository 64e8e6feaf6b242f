// Opens the embedded default store under a home: the SQLite file and the audit key kept beside it.

import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homePaths, type HomePaths } from '../config/service-config.js';
import { DeployrError } from '../domain/errors.js';
import type { Store } from '../engine/ports.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';

/** An open store with the keys derived from the home's secret key. */
export interface OpenedStore {
  store: Store;
  paths: HomePaths;
  /** Keys the throttle's short digests of wrong values. */
  digestKey: Buffer;
}

/** Reads the home's secret key, making it (owner-only) on first use. */
function homeKey(file: string): Buffer {
  if (!existsSync(file)) {
    try {
      writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
  if (key.length < 32) throw new Error(`${file} is damaged (expected 64 hex digits).`);
  return key;
}

/**
 * Opens the home and its store. `serve` and `configure` create a home that does not exist yet;
 * every other command passes `mustExist`, so a mistyped `--home` is an error naming it rather than
 * a new, empty server (an `audit verify` that finds nothing to check would say "intact").
 */
export function openHomeStore(home: string, options: { mustExist?: boolean } = {}): OpenedStore {
  if (options.mustExist && !existsSync(home)) {
    throw new DeployrError('INVALID_INPUT', `There is no deployr home at ${home}: check --home or DEPLOYR_HOME (only deployr serve and deployr configure make a new one).`);
  }
  const paths = homePaths(home);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const key = homeKey(paths.auditKey);
  const store = openSqliteStore(paths.database, createHmac('sha256', key).update('audit-chain').digest());
  return { store, paths, digestKey: createHmac('sha256', key).update('throttle-digest').digest() };
}
