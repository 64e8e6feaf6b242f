// Test helpers for the PostgreSQL store: whether the server is reachable, and a fresh schema per test (dropped afterwards).

import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The database the tests use: DEPLOYR_TEST_PG_URL, or the local server with trust auth. */
export const PG_BASE_URL = process.env.DEPLOYR_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** True when the PostgreSQL tests must run (DEPLOYR_PG_TESTS=required): an unreachable server fails them instead of skipping. */
export const PG_REQUIRED = process.env.DEPLOYR_PG_TESTS === 'required';

let available: Promise<string | null> | null = null;

/** Null when the server answers; otherwise why not (one line, no password). */
export function pgUnavailableReason(): Promise<string | null> {
  available ??= (async () => {
    const client = new pg.Client({ connectionString: PG_BASE_URL, connectionTimeoutMillis: 3000 });
    client.on('error', () => { /* reported by connect or query */ });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return null;
    } catch (err) {
      return `PostgreSQL at ${new URL(PG_BASE_URL).host} is not reachable (${String((err as Error).message).split('\n')[0]})`;
    } finally {
      await client.end().catch(() => { /* never connected */ });
    }
  })();
  return available;
}

/** True when the test PostgreSQL server answers. */
export async function pgAvailable(): Promise<boolean> {
  return (await pgUnavailableReason()) === null;
}

/** Runs `sql` on the base database with a short-lived connection (as the test's superuser). */
export async function pgAdmin<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<T[]> {
  const client = new pg.Client({ connectionString: PG_BASE_URL });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

/** A URL of a fresh, uniquely named schema (created by the store on open); `drop()` removes it with everything in it. */
export async function freshSchemaUrl(): Promise<{ url: string; schema: string; drop(): Promise<void> }> {
  const schema = `deployr_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const url = new URL(PG_BASE_URL);
  url.searchParams.set('schema', schema);
  return {
    url: url.toString(),
    schema,
    drop: async () => { await pgAdmin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`); },
  };
}
