// The shared store for several nodes: one PostgreSQL database (or schema), implementing every port of src/engine/ports.ts.

import { DeployrError } from '../../domain/errors.js';
import type { Store } from '../../engine/ports.js';

/**
 * Opens the PostgreSQL store at `url` (`postgres://user@host:port/db`, with `?schema=NAME` to use one
 * schema of that database), bringing its schema up to date and refusing a newer one. `auditKey` keys
 * the audit chain's HMAC and is kept outside the database, on every node.
 */
export async function openPostgresStore(url: string, auditKey: Buffer): Promise<Store> {
  void url; void auditKey;
  throw new DeployrError('INTERNAL', 'The PostgreSQL store is not built yet.');
}
