// The PostgreSQL schema matches the SQLite one at every version (tables, columns in order, types, NOT NULL, indexes), so `db copy` can copy table by table; opening races, LISTEN losses, close().

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Store } from '../src/engine/ports.js';
import { DEFAULT_SECURITY_SETTINGS } from '../src/domain/security-settings.js';
import { migratePostgres, MIGRATIONS as PG_MIGRATIONS } from '../src/store/postgres/migrations.js';
import { openPostgresStore } from '../src/store/postgres/postgres-store.js';
import { MIGRATIONS as SQLITE_MIGRATIONS } from '../src/store/sqlite/migrations.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { freshSchemaUrl, pgAdmin, PG_BASE_URL, PG_REQUIRED, pgUnavailableReason } from './helpers/postgres.js';

/** table → [column, type, notnull][] and the index names, as one comparable shape. */
interface Shape { tables: Record<string, [string, string, boolean][]>; indexes: string[] }

const TYPE: Record<string, string> = { INTEGER: 'bigint', TEXT: 'text', REAL: 'double precision', BLOB: 'bytea' };

function sqliteShape(db: Database.Database): Shape {
  const names = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[];
  const tables: Shape['tables'] = {};
  for (const name of names) {
    const cols = db.prepare(`PRAGMA table_info(${name})`).all() as { name: string; type: string; notnull: number; pk: number }[];
    // A single-column INTEGER/TEXT PRIMARY KEY is NOT NULL in PostgreSQL (SQLite's rowid alias is never null either).
    tables[name] = cols.map((c) => [c.name, TYPE[c.type] ?? c.type, c.notnull === 1 || c.pk > 0]);
  }
  const indexes = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name").pluck().all() as string[];
  return { tables, indexes };
}

async function pgShape(schema: string): Promise<Shape> {
  const cols = await pgAdmin<{ table_name: string; column_name: string; data_type: string; is_nullable: string }>(
    'SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position', [schema]);
  const tables: Shape['tables'] = {};
  for (const c of cols) (tables[c.table_name] ??= []).push([c.column_name, c.data_type, c.is_nullable === 'NO']);
  const indexes = (await pgAdmin<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND indexname NOT LIKE '%_pkey' ORDER BY indexname", [schema])).map((r) => r.indexname);
  return { tables: Object.fromEntries(Object.entries(tables).sort(([a], [b]) => (a < b ? -1 : 1))), indexes };
}

async function skipWithoutPg(t: { skip(message: string): void }): Promise<boolean> {
  const reason = await pgUnavailableReason();
  if (reason === null) return false;
  if (PG_REQUIRED) assert.fail(`${reason} (DEPLOYR_PG_TESTS=required)`);
  t.skip(`${reason}; set DEPLOYR_TEST_PG_URL, or DEPLOYR_PG_TESTS=required to fail instead`);
  return true;
}

test('at every version the PostgreSQL schema has the tables, columns (in order), types, NOT NULLs and indexes of the SQLite one', async (t) => {
  if (await skipWithoutPg(t)) return;
  for (const version of PG_MIGRATIONS.map((m) => m.version)) {
    const lite = new Database(':memory:');
    for (const m of SQLITE_MIGRATIONS.filter((x) => x.version <= version)) { lite.exec(m.sql); m.after?.(lite); }
    const expected = sqliteShape(lite);
    lite.close();
    assert.ok(Object.keys(expected.tables).length > 0 && expected.tables.security_settings !== undefined);
    const fresh = await freshSchemaUrl();
    try {
      const client = new pg.Client({ connectionString: PG_BASE_URL });
      await client.connect();
      try {
        await client.query(`CREATE SCHEMA ${fresh.schema}; SET search_path = ${fresh.schema}`);
        for (const m of PG_MIGRATIONS.filter((x) => x.version <= version)) await client.query(m.sql);
      } finally {
        await client.end();
      }
      assert.deepEqual(await pgShape(fresh.schema), expected, `version ${version}`);
    } finally {
      await fresh.drop();
    }
  }
});

test('opened stores of both kinds end with the same schema, schema_migrations included, and the same migration rows', async (t) => {
  if (await skipWithoutPg(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'deployr-schema-'));
  const fresh = await freshSchemaUrl();
  t.after(async () => { rmSync(dir, { recursive: true, force: true }); await fresh.drop(); });
  const file = join(dir, 'deployr.db');
  await openSqliteStore(file, randomBytes(32)).close();
  await (await openPostgresStore(fresh.url, randomBytes(32))).close();
  const lite = new Database(file, { readonly: true });
  const expected = sqliteShape(lite);
  const rows = lite.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
  lite.close();
  assert.deepEqual(await pgShape(fresh.schema), expected);
  assert.deepEqual(await pgAdmin(`SELECT version::int AS version, name FROM ${fresh.schema}.schema_migrations ORDER BY version`), rows);
});

test('postgres: four stores opening one fresh schema at once each apply every migration once, none failing', async (t) => {
  if (await skipWithoutPg(t)) return;
  const fresh = await freshSchemaUrl();
  const stores: Store[] = [];
  t.after(async () => { for (const s of stores) await s.close(); await fresh.drop(); });
  const opened = await Promise.allSettled([0, 1, 2, 3].map(() => openPostgresStore(fresh.url, randomBytes(32))));
  for (const o of opened) if (o.status === 'fulfilled') stores.push(o.value);
  assert.deepEqual(opened.map((o) => o.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'], String(opened.find((o) => o.status === 'rejected')?.reason));
  assert.deepEqual((await pgAdmin<{ version: number }>(`SELECT version FROM ${fresh.schema}.schema_migrations ORDER BY version`)).map((r) => Number(r.version)), PG_MIGRATIONS.map((m) => m.version));
});

test('postgres: with its LISTEN connection killed, a store still sees another node\'s save within a second, and listens again', async (t) => {
  if (await skipWithoutPg(t)) return;
  const fresh = await freshSchemaUrl();
  const a = await openPostgresStore(fresh.url, randomBytes(32));
  const b = await openPostgresStore(fresh.url, randomBytes(32));
  t.after(async () => { await a.close(); await b.close(); await fresh.drop(); });
  const listeners = (): Promise<{ pid: number }[]> => pgAdmin<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE query = $1", [`LISTEN deployr_changes_${fresh.schema}`]);
  assert.equal((await listeners()).length, 2);
  await pgAdmin('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1', [`LISTEN deployr_changes_${fresh.schema}`]);
  assert.equal(await b.getSecurityRevision(), 0);
  await a.saveSecurity({ ...DEFAULT_SECURITY_SETTINGS, bypass: true }, 0, []);
  const deadline = performance.now() + 1000;
  while (await b.getSecurityRevision() !== 1 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(await b.getSecurityRevision(), 1);
  // Both listen again (polled: reconnecting waits half a second).
  const until = performance.now() + 10_000;
  while ((await listeners()).length < 2 && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal((await listeners()).length, 2);
});

test('postgres: migratePostgres brings a fresh schema from 0 to the newest version, then has nothing to do', async (t) => {
  if (await skipWithoutPg(t)) return;
  const fresh = await freshSchemaUrl();
  t.after(() => fresh.drop());
  const newest = PG_MIGRATIONS[PG_MIGRATIONS.length - 1]!.version;
  assert.deepEqual(await migratePostgres(fresh.url), { from: 0, to: newest });
  assert.deepEqual(await migratePostgres(fresh.url), { from: newest, to: newest });
  await pgAdmin(`INSERT INTO ${fresh.schema}.schema_migrations (version, name, applied_at) VALUES (999, 'future', 'x')`);
  await assert.rejects(migratePostgres(fresh.url), (err: unknown) => (err as { code?: string }).code === 'INTEGRITY');
});

test('postgres: after close() nothing keeps the process alive (no pool, listener or timer left)', async (t) => {
  if (await skipWithoutPg(t)) return;
  const fresh = await freshSchemaUrl();
  t.after(() => fresh.drop());
  const entry = new URL('../src/store/postgres/postgres-store.js', import.meta.url).href;
  const script = `const { openPostgresStore } = await import(${JSON.stringify(entry)});
    const store = await openPostgresStore(process.argv[1], Buffer.alloc(32, 1));
    await store.getSecurityRevision(); await store.listTaskSequences(); await store.append({ kind: 'settings', method: 'm', result: 'r', reason: 'x', subject: 's', source: null, device: null, detail: {} });
    await store.close(); console.log('closed');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, fresh.url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
  // A guard against a hang only (the test fails, it does not measure): a process left alive is killed.
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(guard);
  assert.equal(code, 0, out);
  assert.equal(out.trim(), 'closed');
});
