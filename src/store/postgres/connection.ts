// The PostgreSQL connection pool: a parsed URL (domain/postgres-url.ts), bigint as numbers, transactions, and connection errors as UNAVAILABLE.

import { createHash } from 'node:crypto';
import pg from 'pg';
import { DeployrError } from '../../domain/errors.js';
import type { PostgresTarget } from '../../domain/postgres-url.js';

/** Something that runs a query: the pool or a client inside a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** bigint (OID 20) as a JS number: every integer deployr stores (ms times, counts, seq) fits. */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser,
};

/** The pg client settings for `target`: its URL, the schema first on the search path, bigint as numbers. */
export function clientConfig(target: PostgresTarget): pg.ClientConfig {
  return {
    connectionString: target.connectionString,
    ...(target.schema !== null ? { options: `-c search_path=${target.schema}` } : {}),
    types: TYPES,
    connectionTimeoutMillis: 10_000,
  };
}

/** A pool for `target` of `max` connections, the URL's `?pool=` unless given (idle clients' errors are swallowed: the next query reports them). */
export function createPool(target: PostgresTarget, max = target.poolSize): pg.Pool {
  const pool = new pg.Pool({ ...clientConfig(target), max, idleTimeoutMillis: 30_000 });
  pool.on('error', () => { /* an idle client lost its connection; the pool drops it and the next query connects again */ });
  return pool;
}

/** Codes and messages of a lost or refused connection (as opposed to an error in a statement). */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  const code = typeof e.code === 'string' ? e.code : '';
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'].includes(code)) return true;
  // Class 08 (connection exception), 28 (authorisation), 3D000 (no such database), 57P0x (shutdown).
  if (/^(08|28)/.test(code) || code === '3D000' || /^57P0[1-3]$/.test(code)) return true;
  const message = typeof e.message === 'string' ? e.message : '';
  return /Connection terminated|connection timeout|timeout expired|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message);
}

/** A one-line UNAVAILABLE naming host:port/db (the URL's password never appears: pg's messages do not carry it). */
export function unavailable(target: PostgresTarget, err: unknown): DeployrError {
  const e = err as { message?: unknown; code?: unknown } | null;
  // A refused connection to a name with several addresses is an AggregateError with an empty message.
  const text = (typeof e?.message === 'string' && e.message !== '' ? e.message : typeof e?.code === 'string' ? e.code : String(err)) || 'unknown error';
  const reason = text.split('\n')[0]!.slice(0, 200);
  return new DeployrError('UNAVAILABLE', `Cannot reach the PostgreSQL database at ${target.where}: ${reason}`);
}

/** Maps a connection error to UNAVAILABLE; other errors pass through. */
export function mapError(target: PostgresTarget, err: unknown): unknown {
  return err instanceof DeployrError || !isConnectionError(err) ? err : unavailable(target, err);
}

/** A 64-bit advisory lock key (a decimal string for `$1::bigint`) fixed for `purpose` in `schema`. */
export function lockKey(purpose: string, schema: string | null): string {
  return createHash('sha256').update(`deployr ${purpose} ${schema ?? ''}`).digest().readBigInt64BE(0).toString();
}

/** The LISTEN/NOTIFY channel of the store in `schema` (two schemas never share one). */
export function changeChannel(schema: string | null): string {
  const name = schema === null ? 'deployr_changes' : `deployr_changes_${schema}`;
  return name.length <= 63 ? name : `deployr_changes_${createHash('sha256').update(schema ?? '').digest('hex').slice(0, 40)}`;
}

/** The pool with its target: queries and transactions with connection errors as UNAVAILABLE. */
export class PgDatabase implements Queryable {
  constructor(readonly pool: pg.Pool, readonly target: PostgresTarget) {}

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      throw mapError(this.target, err);
    }
  }

  /**
   * Runs `fn` in one transaction on one pooled connection (READ COMMITTED; writers that must see each
   * other take an advisory lock first). A deadlock or serialisation failure runs it again, twice at most.
   */
  async transaction<T>(fn: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (err) {
        throw mapError(this.target, err);
      }
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        try { await client.query('ROLLBACK'); } catch (rollbackErr) { broken = rollbackErr as Error; }
        const code = (err as { code?: string }).code;
        if ((code === '40P01' || code === '40001') && attempt < 2 && broken === undefined) continue;
        throw mapError(this.target, err);
      } finally {
        client.release(broken);
      }
    }
  }
}
