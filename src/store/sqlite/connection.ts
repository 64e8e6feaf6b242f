// Opens the SQLite database file: WAL, synchronous=FULL for security state, foreign keys, migrations.

import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { DeployrError } from '../../domain/errors.js';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.js';

/** An open better-sqlite3 database. */
export type SqliteDatabase = Database.Database;

/** Opens (creating when missing) the database at `file` and brings its schema up to date. */
export function openDatabase(file: string): SqliteDatabase {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // Audit rows and throttle counters must not vanish after a power loss: FULL, not NORMAL. (The
  // group commit switches to NORMAL for its batch and syncs the WAL itself before acknowledging.)
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

/**
 * Brings the SQLite file's schema up to date (what opening it does) and says from which version to
 * which (`deployr db migrate`). A file that does not exist is refused rather than made.
 */
export function migrateSqliteFile(file: string): { from: number; to: number } {
  if (!existsSync(file)) throw new DeployrError('INVALID_INPUT', `There is no database at ${file}.`);
  const before = new Database(file, { readonly: true, fileMustExist: true });
  let from: number;
  try {
    const hasTable = before.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'").get() !== undefined;
    from = hasTable ? ((before.prepare('SELECT MAX(version) FROM schema_migrations').pluck().get() as number | null) ?? 0) : 0;
  } finally { before.close(); }
  openDatabase(file).close();
  return { from, to: Math.max(from, SCHEMA_VERSION) };
}

function migrate(db: SqliteDatabase): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
  const applied = new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
  const newest = Math.max(0, ...applied);
  if (newest > SCHEMA_VERSION) {
    db.close();
    throw new DeployrError('INTEGRITY', `The database's schema is version ${newest}, newer than this deployr knows (${SCHEMA_VERSION}): run the newer deployr, or restore a backup made before the upgrade.`);
  }
  for (const m of MIGRATIONS) {
    if (applied.has(m.version)) continue;
    // PRAGMA foreign_keys has no effect inside a transaction: switched around it.
    if (m.foreignKeysOff) db.pragma('foreign_keys = OFF');
    try {
      db.transaction(() => {
        // Another process opening the same fresh home may have applied it while this one waited for the lock.
        if (db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(m.version) !== undefined) return;
        db.exec(m.sql);
        m.after?.(db);
        if (m.foreignKeysOff && (db.pragma('foreign_key_check') as unknown[]).length > 0) throw new Error(`migration ${m.version} broke a foreign key`);
        db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString());
      }).immediate();
    } finally {
      if (m.foreignKeysOff) db.pragma('foreign_keys = ON');
    }
  }
}
