// Numbered schema migrations for the SQLite store; each runs once, in order, in its own transaction.

import type Database from 'better-sqlite3';

type SqliteDatabase = Database.Database;

/** The migrations, in order; never edit one that has shipped, add a new one. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'security, audit, throttle, keys, task sequences, content items',
    sql: `
      CREATE TABLE security_settings (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        doc TEXT NOT NULL,
        revision INTEGER NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        method TEXT NOT NULL,
        result TEXT NOT NULL,
        reason TEXT NOT NULL,
        subject TEXT NOT NULL,
        source TEXT,
        device TEXT,
        detail TEXT NOT NULL,
        mac TEXT NOT NULL
      );
      CREATE INDEX audit_at ON audit (at);
      CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
      CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
      CREATE TABLE throttle (
        key TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        last_digest TEXT,
        last_failure_at INTEGER NOT NULL,
        blocked_until INTEGER NOT NULL
      );
      CREATE TABLE throttle_global (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        consecutive_failures INTEGER NOT NULL,
        alert_since INTEGER NOT NULL
      );
      CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        private_jwk TEXT NOT NULL,
        public_jwk TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE task_sequences (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        doc TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE content_items (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        doc TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'runs, run steps, run logs',
    sql: `
      CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        task_sequence_id TEXT NOT NULL,
        version_no INTEGER NOT NULL,
        name TEXT NOT NULL,
        device TEXT,
        subject TEXT NOT NULL,
        method TEXT NOT NULL,
        context TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'rebooting')),
        started_at TEXT NOT NULL,
        finished_at TEXT,
        current_step TEXT,
        steps_total INTEGER,
        message TEXT,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX runs_started ON runs (started_at);
      CREATE INDEX runs_task_sequence ON runs (task_sequence_id, started_at);
      CREATE TABLE run_steps (
        run_id TEXT NOT NULL REFERENCES runs (id),
        step_key TEXT NOT NULL,
        seq INTEGER NOT NULL,
        step_id TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        exit_code INTEGER,
        duration_ms INTEGER,
        output_tail TEXT,
        message TEXT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        PRIMARY KEY (run_id, step_key)
      );
      CREATE TABLE run_logs (
        run_id TEXT NOT NULL REFERENCES runs (id),
        seq INTEGER NOT NULL,
        text TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
      );
    `,
  },
  {
    version: 3,
    name: 'custom step definitions',
    sql: `
      CREATE TABLE step_definitions (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        doc TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 4,
    name: 'signing key rotation: when a key was replaced and until when it verifies',
    sql: `
      ALTER TABLE signing_keys ADD COLUMN superseded_at TEXT;
      ALTER TABLE signing_keys ADD COLUMN verify_until TEXT;
    `,
  },
  {
    version: 5,
    name: 'runs: the token that registered each run (a limited token reads only its own runs)',
    sql: `
      ALTER TABLE runs ADD COLUMN owner_token_id TEXT;
      CREATE INDEX runs_owner ON runs (owner_token_id, started_at);
    `,
  },
  {
    version: 6,
    name: 'runs: status interrupted, what the device told about itself, when the client should report again (stale runs)',
    sql: `
      ALTER TABLE runs ADD COLUMN device_info TEXT;
      ALTER TABLE runs ADD COLUMN report_by TEXT;
    `,
    // The status CHECK gains 'interrupted': SQLite cannot change a CHECK in place, so the table is
    // rebuilt from its own definition (keeping every column other migrations added).
    after: (db) => rebuildTable(db, 'runs', (sql) => sql.replace(/'rebooting'\s*\)\s*\)/, "'rebooting', 'interrupted'))")),
    foreignKeysOff: true,
  },
  {
    version: 7,
    name: 'console administrators and their sessions',
    sql: `
      CREATE TABLE administrators (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
        password_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        password_changed_at TEXT NOT NULL
      );
      CREATE TABLE admin_sessions (
        id_hash TEXT PRIMARY KEY,
        name TEXT NOT NULL REFERENCES administrators (name) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        source TEXT NOT NULL
      );
      CREATE INDEX admin_sessions_name ON admin_sessions (name);
      CREATE INDEX runs_updated ON runs (updated_at);
    `,
  },
  {
    version: 8,
    name: 'scoped passcodes',
    sql: `
      CREATE TABLE scoped_passcodes (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        hash TEXT NOT NULL,
        public_id TEXT,
        scope TEXT NOT NULL,
        expires_at TEXT,
        max_uses INTEGER CHECK (max_uses IS NULL OR max_uses > 0),
        uses INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        last_used_at TEXT,
        revoked_at TEXT
      );
      CREATE UNIQUE INDEX scoped_passcodes_name ON scoped_passcodes (name) WHERE revoked_at IS NULL;
      CREATE UNIQUE INDEX scoped_passcodes_public_id ON scoped_passcodes (public_id) WHERE revoked_at IS NULL AND public_id IS NOT NULL;
    `,
  },
  {
    version: 9,
    name: 'store facts (the key check that nodes sharing a database hold the same keys)',
    sql: `
      CREATE TABLE store_facts (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    `,
  },
];

/** The newest schema version this build knows; a database at a higher one is refused. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** One schema migration: SQL, then (optionally) code, in one transaction. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
  after?: (db: SqliteDatabase) => void;
  /** Foreign keys are off while it runs (a table rebuild), and checked before it commits. */
  foreignKeysOff?: boolean;
}

/**
 * Rebuilds `table` with the definition `change` makes of its current one (SQLite's documented
 * procedure for changes ALTER TABLE cannot make): new table, copy, drop, rename, indexes again.
 */
function rebuildTable(db: SqliteDatabase, table: string, change: (sql: string) => string): void {
  const sql = db.prepare("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?").pluck().get(table) as string;
  const indexes = db.prepare("SELECT sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL").pluck().all(table) as string[];
  const changed = change(sql);
  if (changed === sql) throw new Error(`migration: the definition of ${table} did not change`);
  const temp = `${table}_rebuilt`;
  db.exec(changed.replace(new RegExp(`^CREATE TABLE\\s+"?${table}"?`, 'i'), `CREATE TABLE ${temp}`));
  db.exec(`INSERT INTO ${temp} SELECT * FROM ${table}`);
  db.exec(`DROP TABLE ${table}`);
  db.exec(`ALTER TABLE ${temp} RENAME TO ${table}`);
  for (const index of indexes) db.exec(index);
}
