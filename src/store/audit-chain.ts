// The audit chain's arithmetic, shared by every store adapter: a row's MAC and how a stored row becomes an entry.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AuditEntry, AuditKind } from '../domain/audit.js';

/** An audit row as every adapter stores it (the detail as JSON text). */
export interface AuditRow {
  seq: number; at: string; kind: string; method: string; result: string; reason: string;
  subject: string; source: string | null; device: string | null; detail: string; mac: string;
}

/** The MAC of a row given the MAC before it: HMAC-SHA256 over the previous MAC and the row's fields. */
export function rowMac(key: Buffer, previousMac: string, row: Omit<AuditRow, 'mac'>): string {
  const canonical = JSON.stringify([row.seq, row.at, row.kind, row.method, row.result, row.reason, row.subject, row.source, row.device, row.detail]);
  return createHmac('sha256', key).update(previousMac).update('\n').update(canonical).digest('hex');
}

/** True when `row` carries the MAC it should, given the MAC before it (compared in constant time). */
export function rowMacMatches(key: Buffer, previousMac: string, row: AuditRow): boolean {
  const mac = rowMac(key, previousMac, row);
  return mac.length === row.mac.length && timingSafeEqual(Buffer.from(mac), Buffer.from(row.mac));
}

/** The entry a stored row stands for. */
export function auditEntryOf(row: AuditRow): AuditEntry {
  return {
    seq: row.seq, at: row.at, kind: row.kind as AuditKind, method: row.method, result: row.result, reason: row.reason,
    subject: row.subject, source: row.source, device: row.device, detail: JSON.parse(row.detail) as Record<string, unknown>, mac: row.mac,
  };
}

/**
 * The value a store keeps to prove that every node opening it holds the same audit key (and so
 * writes one chain). Derived from the key, so it reveals nothing about it. (A node with the wrong
 * signing KEK is refused already: the keys it holds do not open under it.)
 */
export function keyCheckValue(auditKey: Buffer): string {
  return createHmac('sha256', auditKey).update('deployr key check').digest('hex');
}
