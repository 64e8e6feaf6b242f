// Numbered schema migrations for the PostgreSQL store: the same versions, names, tables and columns as the SQLite ones, each run once under an advisory lock.

import type pg from 'pg';
import { DeployrError } from '../../domain/errors.js';
import { parsePostgresUrl, type PostgresTarget } from '../../domain/postgres-url.js';
import { createPool, lockKey, mapError } from './connection.js';

/** One schema migration: SQL run in its own transaction. */
export interface PgMigration {
  version: number;
  name: string;
  sql: string;
}

/**
 * The migrations, in order; never edit one that has shipped, add a new one. Version N leaves the
 * same tables and columns (in the same order) as SQLite's version N: INTEGER is bigint, TEXT is text COLLATE "C" (compared and sorted by bytes, as SQLite does).
 */
export const MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    name: 'security, audit, throttle, keys, task sequences, content items',
    sql: `
      CREATE TABLE security_settings (
        id bigint PRIMARY KEY CHECK (id = 1),
        doc text COLLATE "C" NOT NULL,
        revision bigint NOT NULL,
        updated_at text COLLATE "C" NOT NULL
      );
      CREATE TABLE audit (
        seq bigint PRIMARY KEY,
        at text COLLATE "C" NOT NULL,
        kind text COLLATE "C" NOT NULL,
        method text COLLATE "C" NOT NULL,
        result text COLLATE "C" NOT NULL,
        reason text COLLATE "C" NOT NULL,
        subject text COLLATE "C" NOT NULL,
        source text COLLATE "C",
        device text COLLATE "C",
        detail text COLLATE "C" NOT NULL,
        mac text COLLATE "C" NOT NULL
      );
      CREATE INDEX audit_at ON audit (at);
      CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END
      $$;
      CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
      CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
      CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
      CREATE TABLE throttle (
        key text COLLATE "C" PRIMARY KEY,
        failures bigint NOT NULL,
        last_digest text COLLATE "C",
        last_failure_at bigint NOT NULL,
        blocked_until bigint NOT NULL
      );
      CREATE TABLE throttle_global (
        id bigint PRIMARY KEY CHECK (id = 1),
        consecutive_failures bigint NOT NULL,
        alert_since bigint NOT NULL
      );
      CREATE TABLE signing_keys (
        kid text COLLATE "C" PRIMARY KEY,
        private_jwk text COLLATE "C" NOT NULL,
        public_jwk text COLLATE "C" NOT NULL,
        created_at text COLLATE "C" NOT NULL
      );
      CREATE TABLE task_sequences (
        id text COLLATE "C" PRIMARY KEY,
        name text COLLATE "C" NOT NULL,
        doc text COLLATE "C" NOT NULL,
        updated_at text COLLATE "C" NOT NULL
      );
      CREATE TABLE content_items (
        id text COLLATE "C" PRIMARY KEY,
        name text COLLATE "C" NOT NULL,
        doc text COLLATE "C" NOT NULL,
        updated_at text COLLATE "C" NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'runs, run steps, run logs',
    sql: `
      CREATE TABLE runs (
        id text COLLATE "C" PRIMARY KEY,
        task_sequence_id text COLLATE "C" NOT NULL,
        version_no bigint NOT NULL,
        name text COLLATE "C" NOT NULL,
        device text COLLATE "C",
        subject text COLLATE "C" NOT NULL,
        method text COLLATE "C" NOT NULL,
        context text COLLATE "C" NOT NULL,
        status text COLLATE "C" NOT NULL CONSTRAINT runs_status_check CHECK (status IN ('running', 'succeeded', 'failed', 'rebooting')),
        started_at text COLLATE "C" NOT NULL,
        finished_at text COLLATE "C",
        current_step text COLLATE "C",
        steps_total bigint,
        message text COLLATE "C",
        updated_at text COLLATE "C" NOT NULL
      );
      CREATE INDEX runs_started ON runs (started_at);
      CREATE INDEX runs_task_sequence ON runs (task_sequence_id, started_at);
      CREATE TABLE run_steps (
        run_id text COLLATE "C" NOT NULL REFERENCES runs (id),
        step_key text COLLATE "C" NOT NULL,
        seq bigint NOT NULL,
        step_id text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        status text COLLATE "C" NOT NULL,
        exit_code bigint,
        duration_ms bigint,
        output_tail text COLLATE "C",
        message text COLLATE "C",
        started_at text COLLATE "C" NOT NULL,
        finished_at text COLLATE "C",
        PRIMARY KEY (run_id, step_key)
      );
      CREATE TABLE run_logs (
        run_id text COLLATE "C" NOT NULL REFERENCES runs (id),
        seq bigint NOT NULL,
        text text COLLATE "C" NOT NULL,
        at text COLLATE "C" NOT NULL,
        PRIMARY KEY (run_id, seq)
      );
    `,
  },
  {
    version: 3,
    name: 'custom step definitions',
    sql: `
      CREATE TABLE step_definitions (
        id text COLLATE "C" PRIMARY KEY,
        name text COLLATE "C" NOT NULL,
        doc text COLLATE "C" NOT NULL,
        updated_at text COLLATE "C" NOT NULL
      );
    `,
  },
  {
    version: 4,
    name: 'signing key rotation: when a key was replaced and until when it verifies',
    sql: `
      ALTER TABLE signing_keys ADD COLUMN superseded_at text COLLATE "C";
      ALTER TABLE signing_keys ADD COLUMN verify_until text COLLATE "C";
    `,
  },
  {
    version: 5,
    name: 'runs: the token that registered each run (a limited token reads only its own runs)',
    sql: `
      ALTER TABLE runs ADD COLUMN owner_token_id text COLLATE "C";
      CREATE INDEX runs_owner ON runs (owner_token_id, started_at);
    `,
  },
  {
    version: 6,
    name: 'runs: status interrupted, what the device told about itself, when the client should report again (stale runs)',
    sql: `
      ALTER TABLE runs ADD COLUMN device_info text COLLATE "C";
      ALTER TABLE runs ADD COLUMN report_by text COLLATE "C";
      ALTER TABLE runs DROP CONSTRAINT runs_status_check;
      ALTER TABLE runs ADD CONSTRAINT runs_status_check CHECK (status IN ('running', 'succeeded', 'failed', 'rebooting', 'interrupted'));
    `,
  },
  {
    version: 7,
    name: 'console administrators and their sessions',
    sql: `
      CREATE TABLE administrators (
        name text COLLATE "C" PRIMARY KEY,
        role text COLLATE "C" NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
        password_hash text COLLATE "C" NOT NULL,
        created_at text COLLATE "C" NOT NULL,
        password_changed_at text COLLATE "C" NOT NULL
      );
      CREATE TABLE admin_sessions (
        id_hash text COLLATE "C" PRIMARY KEY,
        name text COLLATE "C" NOT NULL REFERENCES administrators (name) ON DELETE CASCADE,
        created_at bigint NOT NULL,
        last_seen_at bigint NOT NULL,
        source text COLLATE "C" NOT NULL
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
        id text COLLATE "C" PRIMARY KEY,
        name text COLLATE "C" NOT NULL,
        hash text COLLATE "C" NOT NULL,
        public_id text COLLATE "C",
        scope text COLLATE "C" NOT NULL,
        expires_at text COLLATE "C",
        max_uses bigint CHECK (max_uses IS NULL OR max_uses > 0),
        uses bigint NOT NULL DEFAULT 0,
        created_at text COLLATE "C" NOT NULL,
        created_by text COLLATE "C" NOT NULL,
        last_used_at text COLLATE "C",
        revoked_at text COLLATE "C"
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
        name text COLLATE "C" PRIMARY KEY,
        value text COLLATE "C" NOT NULL
      );
    `,
  },
];

/** The newest schema version this build knows; a database at a higher one is refused. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/**
 * Brings the schema of `target` up to date through `pool`: creates the schema when `?schema=` names
 * one, then applies each missing migration in its own transaction, all under a session advisory lock
 * (several nodes may start at once). INTEGRITY, nothing changed, when the database is newer than this build.
 */
export async function migrateSchema(pool: pg.Pool, target: PostgresTarget): Promise<{ from: number; to: number }> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw mapError(target, err);
  }
  const key = lockKey('migrations', target.schema);
  let broken: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1::bigint)', [key]);
    try {
      // Created only when missing: a role without CREATE rights may still open a schema made for it.
      if (target.schema !== null && (await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [target.schema])).rows.length === 0) {
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${target.schema}`);
      }
      if ((await client.query<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t")).rows[0]?.t == null) await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, name text COLLATE "C" NOT NULL, applied_at text COLLATE "C" NOT NULL)');
      const applied = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
      const from = Math.max(0, ...applied);
      if (from > SCHEMA_VERSION) {
        throw new DeployrError('INTEGRITY', `The database's schema is version ${from}, newer than this deployr knows (${SCHEMA_VERSION}): run the newer deployr, or restore a backup made before the upgrade.`);
      }
      for (const m of MIGRATIONS) {
        if (applied.has(m.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, new Date().toISOString()]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch((e: unknown) => { broken = e as Error; });
          throw err;
        }
      }
      return { from, to: Math.max(from, SCHEMA_VERSION) };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]).catch((e: unknown) => { broken = e as Error; });
    }
  } catch (err) {
    throw mapError(target, err);
  } finally {
    client.release(broken);
  }
}

/** `deployr db migrate`: brings the database at `url` up to date and says from which version to which. */
export async function migratePostgres(url: string): Promise<{ from: number; to: number }> {
  const target = parsePostgresUrl(url);
  const pool = createPool(target, 1);
  try {
    return await migrateSchema(pool, target);
  } finally {
    await pool.end();
  }
}
