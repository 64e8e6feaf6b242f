// Throttle counters in SQLite, updated in one transaction with the login's audit row.

import type Database from 'better-sqlite3';
import type { AuditEntry, AuditEvent } from '../../domain/audit.js';
import {
  afterFailure, EMPTY_GLOBAL_RECORD, EMPTY_THROTTLE_RECORD, globalAfterFailure, isRepeat, policyForKey,
  type GlobalThrottleRecord, type ThrottlePolicy, type ThrottleRecord,
} from '../../domain/throttle.js';
import { appendAudit } from './audit-log.js';
import type { SqliteDatabase } from './connection.js';

interface ThrottleRow { key: string; failures: number; last_digest: string | null; last_failure_at: number; blocked_until: number }

type Statement = Database.Statement<unknown[], unknown>;
const statements = new WeakMap<SqliteDatabase, Map<string, Statement>>();
const lastPrune = new WeakMap<SqliteDatabase, number>();

/** A prepared statement, compiled once per connection (logins run these on every attempt). */
function stmt(db: SqliteDatabase, sql: string): Statement {
  let byText = statements.get(db);
  if (!byText) statements.set(db, (byText = new Map()));
  let s = byText.get(sql);
  if (!s) byText.set(sql, (s = db.prepare(sql)));
  return s;
}

function readRecord(db: SqliteDatabase, key: string): ThrottleRecord {
  const row = stmt(db, 'SELECT * FROM throttle WHERE key = ?').get(key) as ThrottleRow | undefined;
  return row ? { failures: row.failures, lastDigest: row.last_digest, lastFailureAt: row.last_failure_at, blockedUntil: row.blocked_until } : EMPTY_THROTTLE_RECORD;
}

function readGlobal(db: SqliteDatabase): GlobalThrottleRecord {
  const row = stmt(db, 'SELECT consecutive_failures, alert_since FROM throttle_global WHERE id = 1').get() as { consecutive_failures: number; alert_since: number } | undefined;
  return row ? { consecutiveFailures: row.consecutive_failures, alertSince: row.alert_since } : EMPTY_GLOBAL_RECORD;
}

function writeGlobal(db: SqliteDatabase, g: GlobalThrottleRecord): void {
  stmt(db, 'INSERT INTO throttle_global (id, consecutive_failures, alert_since) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET consecutive_failures = excluded.consecutive_failures, alert_since = excluded.alert_since')
    .run(g.consecutiveFailures, g.alertSince);
}

/** Forgets counters nobody has failed on for `forgetAfterMs` (at most once an hour), so the table cannot grow without bound. */
function pruneStale(db: SqliteDatabase, now: number, policy: ThrottlePolicy): void {
  if (now - (lastPrune.get(db) ?? 0) < 3_600_000) return;
  lastPrune.set(db, now);
  stmt(db, 'DELETE FROM throttle WHERE last_failure_at < ? AND blocked_until < ?').run(now - policy.forgetAfterMs, now);
}

/** The records for `keys` and the global record. */
export function throttleState(db: SqliteDatabase, keys: string[]): { records: Map<string, ThrottleRecord>; global: GlobalThrottleRecord } {
  return { records: new Map(keys.map((k) => [k, readRecord(db, k)])), global: readGlobal(db) };
}

/**
 * Counts a failure for every key and globally, with its audit row (and an alert row when the alert is
 * raised). A repeat of the last wrong value on every key is refused but not escalated, here or globally;
 * the audit row says so (`detail.repeat`).
 */
export function recordFailure(
  db: SqliteDatabase, auditKey: Buffer,
  input: { keys: string[]; digest: string; now: number; policy: ThrottlePolicy; event: AuditEvent },
): { alertRaised: boolean; global: GlobalThrottleRecord } {
  return db.transaction(() => {
    let escalated = false;
    for (const key of input.keys) {
      const policy = policyForKey(key, input.policy);
      const record = readRecord(db, key);
      if (!isRepeat(record, input.digest, input.now, policy)) escalated = true;
      const next = afterFailure(record, input.digest, input.now, policy);
      stmt(db, 'INSERT INTO throttle (key, failures, last_digest, last_failure_at, blocked_until) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, last_digest = excluded.last_digest, last_failure_at = excluded.last_failure_at, blocked_until = excluded.blocked_until')
        .run(key, next.failures, next.lastDigest, next.lastFailureAt, next.blockedUntil);
    }
    const before = readGlobal(db);
    const { next, raised } = escalated ? globalAfterFailure(before, input.now, input.policy) : { next: before, raised: false };
    if (escalated) writeGlobal(db, next);
    appendAudit(db, auditKey, { ...input.event, detail: { ...input.event.detail, ...(escalated ? {} : { repeat: true }) } }, new Date(input.now));
    if (raised) {
      appendAudit(db, auditKey, {
        kind: 'alert', method: 'passcode', result: 'raised', reason: 'global_failure_threshold', subject: 'service',
        source: null, device: null, detail: { consecutiveFailures: next.consecutiveFailures },
      }, new Date(input.now));
    }
    pruneStale(db, input.now, input.policy);
    return { alertRaised: raised, global: next };
  }).immediate();
}

/** Clears the keys' records and the global count, with the login's audit row (and an "alert cleared" row when one was raised). */
export function recordSuccess(db: SqliteDatabase, auditKey: Buffer, input: { keys: string[]; event: AuditEvent }): AuditEntry {
  return db.transaction(() => {
    for (const key of input.keys) stmt(db, 'DELETE FROM throttle WHERE key = ?').run(key);
    const before = readGlobal(db);
    if (before.consecutiveFailures !== 0 || before.alertSince !== 0) writeGlobal(db, EMPTY_GLOBAL_RECORD);
    const entry = appendAudit(db, auditKey, input.event);
    if (before.alertSince > 0) {
      appendAudit(db, auditKey, {
        kind: 'alert', method: 'passcode', result: 'cleared', reason: 'login_succeeded', subject: 'service',
        source: null, device: null, detail: { consecutiveFailures: before.consecutiveFailures, alertSince: new Date(before.alertSince).toISOString() },
      });
    }
    return entry;
  }).immediate();
}

/** Every counter and the global record. */
export function listThrottle(db: SqliteDatabase): { records: { key: string; record: ThrottleRecord }[]; global: GlobalThrottleRecord } {
  const rows = stmt(db, 'SELECT * FROM throttle ORDER BY key').all() as ThrottleRow[];
  return {
    records: rows.map((row) => ({ key: row.key, record: { failures: row.failures, lastDigest: row.last_digest, lastFailureAt: row.last_failure_at, blockedUntil: row.blocked_until } })),
    global: readGlobal(db),
  };
}

/** Removes an address's counters (or all of them, and/or the global record) with the audit row, in one transaction. */
export function clearThrottle(db: SqliteDatabase, auditKey: Buffer, input: { address?: string; all?: boolean; resetAlert?: boolean; event: AuditEvent }): { cleared: number; alertCleared: boolean } {
  return db.transaction(() => {
    let cleared = 0;
    if (input.all) {
      cleared = stmt(db, 'DELETE FROM throttle').run().changes;
    } else if (input.address !== undefined) {
      // Compared as text (no LIKE), so no character of an address acts as a wildcard.
      const prefix = `src:${input.address}|`;
      cleared = stmt(db, 'DELETE FROM throttle WHERE key = ? OR substr(key, 1, ?) = ?').run(`ip:${input.address}`, prefix.length, prefix).changes;
    }
    const before = readGlobal(db);
    const alertCleared = input.resetAlert === true && (before.consecutiveFailures !== 0 || before.alertSince !== 0);
    if (alertCleared) writeGlobal(db, EMPTY_GLOBAL_RECORD);
    appendAudit(db, auditKey, { ...input.event, detail: { ...input.event.detail, cleared, alertCleared, ...(alertCleared ? { consecutiveFailures: before.consecutiveFailures } : {}) } });
    return { cleared, alertCleared };
  }).immediate();
}
