// Numbered schema migrations for the SQLite store; each runs once, in order, in its own transaction.

/** The migrations, in order; never edit one that has shipped, add a new one. */
export const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
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
];
