// Moves a single-node install into PostgreSQL: every table of a SQLite store copied, in one transaction, into an empty PostgreSQL store, then checked.

import pg from 'pg';
import { DeployrError } from '../domain/errors.js';
import { plural } from '../domain/duration-text.js';
import { verifyAudit } from './postgres/audit-log.js';
import { parsePostgresUrl } from '../domain/postgres-url.js';
import { clientConfig, mapError } from './postgres/connection.js';
import { openPostgresStore } from './postgres/postgres-store.js';
import { openDatabase, type SqliteDatabase } from './sqlite/connection.js';

/** What a copy moved: each table's rows, and the audit chain as verified in PostgreSQL. */
export interface CopyReport {
  tables: { name: string; rows: number }[];
  auditRows: number;
  /** The last audit row's seq and MAC in PostgreSQL (an anchor for `deployr audit verify --anchor`). */
  head: { seq: number; mac: string } | null;
}

/** Rows per INSERT statement (PostgreSQL takes at most 65,535 parameters in one). */
const BATCH_PARAMETERS = 30_000;

/**
 * Copies the SQLite store in `sqliteFile` into the PostgreSQL store at `postgresUrl`. The SQLite
 * file is first brought to this version's schema (as `serve` would), then read in one snapshot, so a
 * service still running on it cannot make the copy inconsistent (stop it anyway: what it writes
 * afterwards is not copied). The PostgreSQL store is migrated, must hold no deployr data (else
 * CONFLICT, nothing written), and receives every table in one transaction, which commits only when
 * every table's row count matches and the audit chain verifies under `auditKey` from its first row.
 */
export async function copySqliteToPostgres(sqliteFile: string, postgresUrl: string, auditKey: Buffer): Promise<CopyReport> {
  const target = parsePostgresUrl(postgresUrl);
  // Opening the store runs its migrations (under its advisory lock), so the tables exist.
  await (await openPostgresStore(postgresUrl, auditKey)).close();
  const source = openDatabase(sqliteFile);
  const client = new pg.Client(clientConfig(target));
  try {
    try { await client.connect(); } catch (err) { throw mapError(target, err); }
    source.exec('BEGIN');
    try {
      const tables = tablesInOrder(source);
      await client.query('BEGIN');
      try {
        await refuseUnlessEmpty(client, tables);
        const report: CopyReport = { tables: [], auditRows: 0, head: null };
        for (const table of tables) report.tables.push({ name: table, rows: await copyTable(source, client, table) });
        await advanceSequences(client, tables);
        for (const { name, rows } of report.tables) {
          const copied = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${name}`)).rows[0]!.n);
          if (copied !== rows) throw new DeployrError('INTEGRITY', `The copy of ${name} holds ${plural(copied, 'row')} instead of ${rows}: nothing was copied.`);
        }
        const verified = await verifyChain(client, auditKey);
        report.auditRows = verified.checked;
        report.head = verified.head;
        await client.query('COMMIT');
        return report;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    } finally {
      source.exec('COMMIT');
    }
  } catch (err) {
    throw mapError(target, err);
  } finally {
    source.close();
    await client.end().catch(() => undefined);
  }
}

/** The store's tables (not SQLite's own, not schema_migrations), each after the tables it references. */
function tablesInOrder(db: SqliteDatabase): string[] {
  const names = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name").pluck().all() as string[];
  const ordered: string[] = [];
  const visit = (name: string, path: string[]): void => {
    if (ordered.includes(name)) return;
    if (path.includes(name)) throw new DeployrError('INTERNAL', `The tables ${path.join(', ')} reference each other in a cycle.`);
    for (const parent of db.prepare(`SELECT "table" FROM pragma_foreign_key_list(?)`).pluck().all(name) as string[]) {
      if (parent !== name) visit(parent, [...path, name]);
    }
    ordered.push(name);
  };
  for (const name of names) visit(name, []);
  return ordered;
}

/** CONFLICT when any of `tables` already holds rows in PostgreSQL (a copy never merges). */
async function refuseUnlessEmpty(client: pg.Client, tables: string[]): Promise<void> {
  const present = new Set((await client.query<{ table_name: string }>('SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()')).rows.map((r) => r.table_name));
  const missing = tables.filter((t) => !present.has(t));
  if (missing.length) throw new DeployrError('INTEGRITY', `The PostgreSQL store has no table ${missing.join(', ')}: its schema is not this deployr's. Nothing was copied.`);
  const holding: string[] = [];
  for (const table of tables) {
    if ((await client.query(`SELECT 1 FROM ${table} LIMIT 1`)).rowCount) holding.push(table);
  }
  if (holding.length) throw new DeployrError('CONFLICT', `The PostgreSQL store already holds deployr data (in ${holding.join(', ')}): db copy only fills an empty one. Nothing was copied.`);
}

/** Copies one table in batches of multi-row INSERTs; returns the rows read. */
async function copyTable(source: SqliteDatabase, client: pg.Client, table: string): Promise<number> {
  const columns = (source.prepare('SELECT name FROM pragma_table_info(?) ORDER BY cid').pluck().all(table) as string[]);
  const targetColumns = new Set((await client.query<{ column_name: string }>('SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1', [table])).rows.map((r) => r.column_name));
  const unknown = columns.filter((c) => !targetColumns.has(c));
  if (unknown.length) throw new DeployrError('INTEGRITY', `The PostgreSQL table ${table} has no column ${unknown.join(', ')}: its schema is not this deployr's. Nothing was copied.`);
  const perBatch = Math.max(1, Math.floor(BATCH_PARAMETERS / columns.length));
  const order = table === 'audit' ? ' ORDER BY seq' : '';
  let batch: unknown[][] = [];
  let rows = 0;
  const flush = async (): Promise<void> => {
    if (!batch.length) return;
    const values = batch.map((_, r) => `(${columns.map((__, c) => `$${r * columns.length + c + 1}`).join(', ')})`).join(', ');
    await client.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values}`, batch.flat());
    batch = [];
  };
  for (const row of source.prepare(`SELECT ${columns.map((c) => `"${c}"`).join(', ')} FROM ${table}${order}`).raw().iterate() as IterableIterator<unknown[]>) {
    batch.push(row.map((v) => (typeof v === 'bigint' ? v.toString() : v)));
    rows += 1;
    if (batch.length >= perBatch) await flush();
  }
  await flush();
  return rows;
}

/** Moves any serial or identity sequence of the copied tables past the copied values. */
async function advanceSequences(client: pg.Client, tables: string[]): Promise<void> {
  const { rows } = await client.query<{ table_name: string; column_name: string; sequence: string }>(
    "SELECT table_name, column_name, pg_get_serial_sequence(quote_ident(table_name), column_name) AS sequence FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ANY($1) AND pg_get_serial_sequence(quote_ident(table_name), column_name) IS NOT NULL",
    [tables],
  );
  for (const r of rows) await client.query(`SELECT setval($1, GREATEST((SELECT MAX(${r.column_name}) FROM ${r.table_name}), 1))`, [r.sequence]);
}

/** The copied chain checked as `deployr audit verify` checks it; INTEGRITY at the first row that does not verify. */
async function verifyChain(client: pg.Client, auditKey: Buffer): Promise<{ checked: number; head: { seq: number; mac: string } | null }> {
  const verified = await verifyAudit(client, auditKey);
  if (!verified.ok) {
    throw new DeployrError('INTEGRITY', `The audit chain does not verify at entry ${verified.brokenAt} (in the SQLite store already, or this home's audit.key is not the one it was written with): nothing was copied.`);
  }
  const head = (await client.query<{ seq: number; mac: string }>('SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1')).rows[0];
  return { checked: verified.checked, head: head ? { seq: head.seq, mac: head.mac } : null };
}
