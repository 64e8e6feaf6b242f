// A PostgreSQL database URL: postgres://user@host:port/db with deployr's own ?schema= and ?pool=, checked once for every command and the store.

import { DeployrError } from './errors.js';

/** Where the store lives, parsed from its URL. */
export interface PostgresTarget {
  /** The URL given to pg (without `schema`). */
  connectionString: string;
  /** The schema from `?schema=`, or null for the connection's default (usually `public`). */
  schema: string | null;
  /** `host:port/db`, for messages (never the user's password). */
  where: string;
  /** The most connections this process's pool opens for queries (`?pool=`, 10 by default); `LISTEN` takes one more. */
  poolSize: number;
}

/** The pool size when the URL does not say (`?pool=N` changes it). */
const DEFAULT_POOL_SIZE = 10;
/** The largest `?pool=` accepted: more than PostgreSQL's default `max_connections` (100) is a typing error. */
const MAX_POOL_SIZE = 100;

/** A plain lower-case SQL identifier (no quoting needed anywhere, never folded). */
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Parses `postgres://user@host:port/db[?schema=NAME][&pool=N]` (or `postgresql://`); INVALID_INPUT when it is not one. */
export function parsePostgresUrl(url: string): PostgresTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DeployrError('INVALID_INPUT', 'The database URL is not a URL; expected postgres://user@host:port/db.');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new DeployrError('INVALID_INPUT', 'The database URL must start with postgres:// or postgresql://.');
  }
  const schema = parsed.searchParams.get('schema');
  if (schema !== null && !IDENTIFIER.test(schema)) {
    throw new DeployrError('INVALID_INPUT', `The schema in the database URL must be a plain lower-case identifier (letters, digits, _; at most 63 characters), not one of ${schema.length} characters like that.`);
  }
  parsed.searchParams.delete('schema');
  const pool = parsed.searchParams.get('pool');
  const poolSize = pool === null ? DEFAULT_POOL_SIZE : Number(pool);
  if (pool !== null && (!/^\d{1,3}$/.test(pool) || poolSize < 1 || poolSize > MAX_POOL_SIZE)) {
    throw new DeployrError('INVALID_INPUT', `The pool in the database URL must be a whole number of connections from 1 to ${MAX_POOL_SIZE}, not the ${pool.length} characters given.`);
  }
  parsed.searchParams.delete('pool');
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username) || 'postgres';
  const where = `${parsed.hostname || 'localhost'}:${parsed.port || '5432'}/${database}`;
  return { connectionString: parsed.toString(), schema, where, poolSize };
}
