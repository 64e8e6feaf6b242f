// The audit trail in SQLite: append-only rows, each with an HMAC chained to the one before it.

import type Database from 'better-sqlite3';
import type { AuditEntry, AuditEvent } from '../../domain/audit.js';
import type { AuditFilter, AuditVerification } from '../../engine/ports.js';
import { auditEntryOf as toEntry, rowMac, rowMacMatches, type AuditRow } from '../audit-chain.js';
import type { SqliteDatabase } from './connection.js';

const statements = new WeakMap<SqliteDatabase, Map<string, Database.Statement<unknown[], unknown>>>();

/** A prepared statement, compiled once per connection (every login appends). */
function statement(db: SqliteDatabase, sql: string): Database.Statement<unknown[], unknown> {
  let byText = statements.get(db);
  if (!byText) statements.set(db, (byText = new Map()));
  let s = byText.get(sql);
  if (!s) byText.set(sql, (s = db.prepare(sql)));
  return s;
}

/** Appends one event; call inside the transaction of the change it records. */
export function appendAudit(db: SqliteDatabase, key: Buffer, event: AuditEvent, now = new Date()): AuditEntry {
  const last = statement(db, 'SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1').get() as { seq: number; mac: string } | undefined;
  const row = {
    seq: (last?.seq ?? 0) + 1, at: now.toISOString(), kind: event.kind, method: event.method, result: event.result,
    reason: event.reason, subject: event.subject, source: event.source, device: event.device, detail: JSON.stringify(event.detail ?? {}),
  };
  const mac = rowMac(key, last?.mac ?? '', row);
  statement(db, 'INSERT INTO audit (seq, at, kind, method, result, reason, subject, source, device, detail, mac) VALUES (@seq, @at, @kind, @method, @result, @reason, @subject, @source, @device, @detail, @mac)')
    .run({ ...row, mac });
  return toEntry({ ...row, mac });
}

/** Reads entries, oldest first, matching the filter. */
export function listAudit(db: SqliteDatabase, filter: AuditFilter): AuditEntry[] {
  const where: string[] = [];
  const params: Record<string, unknown> = {};
  if (filter.since) { where.push('at >= @since'); params.since = filter.since; }
  if (filter.kind) { where.push('kind = @kind'); params.kind = filter.kind; }
  if (filter.method) { where.push('method = @method'); params.method = filter.method; }
  if (filter.result) { where.push('result = @result'); params.result = filter.result; }
  const sql = `SELECT * FROM audit ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq ${filter.limit ? 'DESC LIMIT @limit' : 'ASC'}`;
  if (filter.limit) params.limit = filter.limit;
  const rows = db.prepare(sql).all(params) as AuditRow[];
  if (filter.limit) rows.reverse();
  return rows.map(toEntry);
}

/** Recomputes the chain; an edited row, or a deleted one, breaks it from that point. */
export function verifyAudit(db: SqliteDatabase, key: Buffer): AuditVerification {
  let previousMac = '';
  let expectedSeq = 1;
  let checked = 0;
  for (const row of db.prepare('SELECT * FROM audit ORDER BY seq ASC').iterate() as IterableIterator<AuditRow>) {
    const same = rowMacMatches(key, previousMac, row);
    if (row.seq !== expectedSeq || !same) return { ok: false, checked, brokenAt: row.seq };
    previousMac = row.mac;
    expectedSeq += 1;
    checked += 1;
  }
  return { ok: true, checked, brokenAt: null };
}
