// Throttle counters in SQLite, updated in one transaction with the login's audit row.

import type { AuditEntry, AuditEvent } from '../../domain/audit.js';
import {
  afterFailure, EMPTY_GLOBAL_RECORD, EMPTY_THROTTLE_RECORD, globalAfterFailure,
  type GlobalThrottleRecord, type ThrottlePolicy, type ThrottleRecord,
} from '../../domain/throttle.js';
import { appendAudit } from './audit-log.js';
import type { SqliteDatabase } from './connection.js';

interface ThrottleRow { key: string; failures: number; last_digest: string | null; last_failure_at: number; blocked_until: number }

function readRecord(db: SqliteDatabase, key: string): ThrottleRecord {
  const row = db.prepare('SELECT * FROM throttle WHERE key = ?').get(key) as ThrottleRow | undefined;
  return row ? { failures: row.failures, lastDigest: row.last_digest, lastFailureAt: row.last_failure_at, blockedUntil: row.blocked_until } : EMPTY_THROTTLE_RECORD;
}

function readGlobal(db: SqliteDatabase): GlobalThrottleRecord {
  const row = db.prepare('SELECT consecutive_failures, alert_since FROM throttle_global WHERE id = 1').get() as { consecutive_failures: number; alert_since: number } | undefined;
  return row ? { consecutiveFailures: row.consecutive_failures, alertSince: row.alert_since } : EMPTY_GLOBAL_RECORD;
}

function writeGlobal(db: SqliteDatabase, g: GlobalThrottleRecord): void {
  db.prepare('INSERT INTO throttle_global (id, consecutive_failures, alert_since) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET consecutive_failures = excluded.consecutive_failures, alert_since = excluded.alert_since')
    .run(g.consecutiveFailures, g.alertSince);
}

/** The records for `keys` and the global record. */
export function throttleState(db: SqliteDatabase, keys: string[]): { records: Map<string, ThrottleRecord>; global: GlobalThrottleRecord } {
  return { records: new Map(keys.map((k) => [k, readRecord(db, k)])), global: readGlobal(db) };
}

/** Counts a failure for every key and globally, with its audit row (and an alert row when the alert is raised). */
export function recordFailure(
  db: SqliteDatabase, auditKey: Buffer,
  input: { keys: string[]; digest: string; now: number; policy: ThrottlePolicy; event: AuditEvent },
): { alertRaised: boolean; global: GlobalThrottleRecord } {
  return db.transaction(() => {
    for (const key of input.keys) {
      const next = afterFailure(readRecord(db, key), input.digest, input.now, input.policy);
      db.prepare('INSERT INTO throttle (key, failures, last_digest, last_failure_at, blocked_until) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, last_digest = excluded.last_digest, last_failure_at = excluded.last_failure_at, blocked_until = excluded.blocked_until')
        .run(key, next.failures, next.lastDigest, next.lastFailureAt, next.blockedUntil);
    }
    const { next, raised } = globalAfterFailure(readGlobal(db), input.now, input.policy);
    writeGlobal(db, next);
    appendAudit(db, auditKey, input.event, new Date(input.now));
    if (raised) {
      appendAudit(db, auditKey, {
        kind: 'alert', method: 'passcode', result: 'raised', reason: 'global_failure_threshold', subject: 'service',
        source: null, device: null, detail: { consecutiveFailures: next.consecutiveFailures },
      }, new Date(input.now));
    }
    return { alertRaised: raised, global: next };
  }).immediate();
}

/** Clears the keys' records and the global count, with the login's audit row. */
export function recordSuccess(db: SqliteDatabase, auditKey: Buffer, input: { keys: string[]; event: AuditEvent }): AuditEntry {
  return db.transaction(() => {
    for (const key of input.keys) db.prepare('DELETE FROM throttle WHERE key = ?').run(key);
    writeGlobal(db, EMPTY_GLOBAL_RECORD);
    return appendAudit(db, auditKey, input.event);
  }).immediate();
}
