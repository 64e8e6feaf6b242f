// The audit trail in PostgreSQL: append-only rows chained by HMAC, appended under one advisory lock so every node writes one chain.

import type { AuditEntry, AuditEvent } from '../../domain/audit.js';
import type { AuditFilter, AuditVerification } from '../../engine/ports.js';
import { auditEntryOf as toEntry, rowMac, rowMacMatches, type AuditRow } from '../audit-chain.js';
import type { Queryable } from './connection.js';

/** What appending needs: the chain's HMAC key and the advisory lock key every writer of this schema takes. */
export interface AuditContext {
  key: Buffer;
  lock: string;
}

/** Rows read per page by `verifyAudit` (a million rows are never held at once). */
const VERIFY_PAGE = 2000;

/**
 * Takes the audit lock for the rest of the transaction. Every transaction that appends takes it
 * first, so writers on every node are serialised (as SQLite's single writer is) and see each other.
 */
export async function lockAudit(tx: Queryable, audit: AuditContext): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [audit.lock]);
}

/** Appends one event; call inside the transaction of the change it records. */
export async function appendAudit(tx: Queryable, audit: AuditContext, event: AuditEvent, now = new Date()): Promise<AuditEntry> {
  await lockAudit(tx, audit);
  const last = (await tx.query<{ seq: number; mac: string }>('SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1')).rows[0];
  const row = {
    seq: (last?.seq ?? 0) + 1, at: now.toISOString(), kind: event.kind, method: event.method, result: event.result,
    reason: event.reason, subject: event.subject, source: event.source, device: event.device, detail: JSON.stringify(event.detail ?? {}),
  };
  const mac = rowMac(audit.key, last?.mac ?? '', row);
  await tx.query('INSERT INTO audit (seq, at, kind, method, result, reason, subject, source, device, detail, mac) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)',
    [row.seq, row.at, row.kind, row.method, row.result, row.reason, row.subject, row.source, row.device, row.detail, mac]);
  return toEntry({ ...row, mac });
}

/**
 * Appends several events in order with one read of the chain's end and one INSERT (a batch of
 * logins shares one transaction); call inside the transaction of the changes they record.
 */
export async function appendAuditBatch(tx: Queryable, audit: AuditContext, events: readonly AuditEvent[], now = new Date()): Promise<AuditEntry[]> {
  if (events.length === 0) return [];
  await lockAudit(tx, audit);
  const last = (await tx.query<{ seq: number; mac: string }>('SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1')).rows[0];
  let seq = last?.seq ?? 0;
  let previousMac = last?.mac ?? '';
  const entries: AuditEntry[] = [];
  const values: unknown[] = [];
  for (const event of events) {
    seq += 1;
    const row = {
      seq, at: now.toISOString(), kind: event.kind, method: event.method, result: event.result,
      reason: event.reason, subject: event.subject, source: event.source, device: event.device, detail: JSON.stringify(event.detail ?? {}),
    };
    previousMac = rowMac(audit.key, previousMac, row);
    values.push(row.seq, row.at, row.kind, row.method, row.result, row.reason, row.subject, row.source, row.device, row.detail, previousMac);
    entries.push(toEntry({ ...row, mac: previousMac }));
  }
  const placeholders = events.map((_, r) => `(${Array.from({ length: 11 }, (__, c) => `$${r * 11 + c + 1}`).join(', ')})`).join(', ');
  await tx.query(`INSERT INTO audit (seq, at, kind, method, result, reason, subject, source, device, detail, mac) VALUES ${placeholders}`, values);
  return entries;
}

/** Reads entries, oldest first, matching the filter (with `limit`: the newest that many). */
export async function listAudit(db: Queryable, filter: AuditFilter): Promise<AuditEntry[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, value: unknown): void => { params.push(value); where.push(sql.replace('?', `$${params.length}`)); };
  if (filter.since) add('at >= ?', filter.since);
  if (filter.kind) add('kind = ?', filter.kind);
  if (filter.method) add('method = ?', filter.method);
  if (filter.result) add('result = ?', filter.result);
  let sql = `SELECT * FROM audit ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq ${filter.limit ? 'DESC' : 'ASC'}`;
  if (filter.limit) { params.push(filter.limit); sql += ` LIMIT $${params.length}`; }
  const rows = (await db.query<AuditRow>(sql, params)).rows;
  if (filter.limit) rows.reverse();
  return rows.map(toEntry);
}

/** Recomputes the chain page by page; an edited row, or a deleted one, breaks it from that point. */
export async function verifyAudit(db: Queryable, key: Buffer): Promise<AuditVerification> {
  let previousMac = '';
  let expectedSeq = 1;
  let checked = 0;
  let after = 0;
  for (;;) {
    const rows = (await db.query<AuditRow>('SELECT * FROM audit WHERE seq > $1 ORDER BY seq ASC LIMIT $2', [after, VERIFY_PAGE])).rows;
    for (const row of rows) {
      if (row.seq !== expectedSeq || !rowMacMatches(key, previousMac, row)) return { ok: false, checked, brokenAt: row.seq };
      previousMac = row.mac;
      expectedSeq += 1;
      checked += 1;
      after = row.seq;
    }
    if (rows.length < VERIFY_PAGE) return { ok: true, checked, brokenAt: null };
  }
}

/** Whether the newest row's MAC follows from the one before it (a cheap check of the chain's tail). */
export async function auditTailMatches(db: Queryable, key: Buffer): Promise<{ ok: boolean; seq: number | null }> {
  const rows = (await db.query<AuditRow>('SELECT * FROM audit ORDER BY seq DESC LIMIT 2')).rows;
  const [last, before] = rows;
  if (!last) return { ok: true, seq: null };
  if (before && before.seq !== last.seq - 1) return { ok: false, seq: last.seq };
  if (!before && last.seq !== 1) return { ok: false, seq: last.seq };
  return { ok: rowMacMatches(key, before?.mac ?? '', last), seq: last.seq };
}
