// Throttle counters in PostgreSQL, updated in one transaction with the login's audit row, under the audit lock so every node's failures count.

import type { AuditEntry, AuditEvent } from '../../domain/audit.js';
import {
  afterFailure, EMPTY_GLOBAL_RECORD, EMPTY_THROTTLE_RECORD, globalAfterFailure, isRepeat, policyForKey,
  type GlobalThrottleRecord, type ThrottlePolicy, type ThrottleRecord,
} from '../../domain/throttle.js';
import { appendAudit, appendAuditBatch, lockAudit, type AuditContext } from './audit-log.js';
import type { PgDatabase, Queryable } from './connection.js';

interface ThrottleRow { key: string; failures: number; last_digest: string | null; last_failure_at: number; blocked_until: number }

function toRecord(row: ThrottleRow): ThrottleRecord {
  return { failures: row.failures, lastDigest: row.last_digest, lastFailureAt: row.last_failure_at, blockedUntil: row.blocked_until };
}

async function readRecords(db: Queryable, keys: string[]): Promise<Map<string, ThrottleRecord>> {
  const rows = keys.length === 0 ? [] : (await db.query<ThrottleRow>('SELECT * FROM throttle WHERE key = ANY($1::text[])', [keys])).rows;
  const byKey = new Map(rows.map((r) => [r.key, toRecord(r)]));
  return new Map(keys.map((k) => [k, byKey.get(k) ?? EMPTY_THROTTLE_RECORD]));
}

async function readGlobal(db: Queryable): Promise<GlobalThrottleRecord> {
  const row = (await db.query<{ consecutive_failures: number; alert_since: number }>('SELECT consecutive_failures, alert_since FROM throttle_global WHERE id = 1')).rows[0];
  return row ? { consecutiveFailures: row.consecutive_failures, alertSince: row.alert_since } : EMPTY_GLOBAL_RECORD;
}

async function writeGlobal(db: Queryable, g: GlobalThrottleRecord): Promise<void> {
  await db.query('INSERT INTO throttle_global (id, consecutive_failures, alert_since) VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET consecutive_failures = excluded.consecutive_failures, alert_since = excluded.alert_since',
    [g.consecutiveFailures, g.alertSince]);
}

/** When each pool last pruned stale counters. */
const lastPrune = new WeakMap<PgDatabase, number>();

/** Forgets counters nobody has failed on for `forgetAfterMs` (at most once an hour per process). */
async function pruneStale(db: PgDatabase, tx: Queryable, now: number, policy: ThrottlePolicy): Promise<void> {
  if (now - (lastPrune.get(db) ?? 0) < 3_600_000) return;
  lastPrune.set(db, now);
  await tx.query('DELETE FROM throttle WHERE last_failure_at < $1 AND blocked_until < $2', [now - policy.forgetAfterMs, now]);
}

/** The records for `keys` and the global record. */
export async function throttleState(db: Queryable, keys: string[]): Promise<{ records: Map<string, ThrottleRecord>; global: GlobalThrottleRecord }> {
  return { records: await readRecords(db, keys), global: await readGlobal(db) };
}

/**
 * Counts a failure for every key and globally, with its audit row (and an alert row when the alert is
 * raised). A repeat of the last wrong value on every key is refused but not escalated; the audit row
 * says so (`detail.repeat`). The audit lock is taken first: two nodes failing at once both count.
 */
export async function recordFailure(
  db: PgDatabase, audit: AuditContext,
  input: { keys: string[]; digest: string; now: number; policy: ThrottlePolicy; event: AuditEvent },
): Promise<{ alertRaised: boolean; global: GlobalThrottleRecord }> {
  return db.transaction(async (tx) => {
    await lockAudit(tx, audit);
    let escalated = false;
    const records = await readRecords(tx, input.keys);
    for (const key of input.keys) {
      const policy = policyForKey(key, input.policy);
      const record = records.get(key) ?? EMPTY_THROTTLE_RECORD;
      if (!isRepeat(record, input.digest, input.now, policy)) escalated = true;
      const next = afterFailure(record, input.digest, input.now, policy);
      await tx.query('INSERT INTO throttle (key, failures, last_digest, last_failure_at, blocked_until) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, last_digest = excluded.last_digest, last_failure_at = excluded.last_failure_at, blocked_until = excluded.blocked_until',
        [key, next.failures, next.lastDigest, next.lastFailureAt, next.blockedUntil]);
      records.set(key, next);
    }
    const before = await readGlobal(tx);
    const { next, raised } = escalated ? globalAfterFailure(before, input.now, input.policy) : { next: before, raised: false };
    if (escalated) await writeGlobal(tx, next);
    await appendAudit(tx, audit, { ...input.event, detail: { ...input.event.detail, ...(escalated ? {} : { repeat: true }) } }, new Date(input.now));
    if (raised) {
      await appendAudit(tx, audit, {
        kind: 'alert', method: 'passcode', result: 'raised', reason: 'global_failure_threshold', subject: 'service',
        source: null, device: null, detail: { consecutiveFailures: next.consecutiveFailures },
      }, new Date(input.now));
    }
    await pruneStale(db, tx, input.now, input.policy);
    return { alertRaised: raised, global: next };
  });
}

/** Inside a transaction: clears the keys' records and the global count, with the login's audit row (and "alert cleared" when one was raised). */
export async function recordSuccessIn(tx: Queryable, audit: AuditContext, input: { keys: string[]; event: AuditEvent }): Promise<AuditEntry> {
  await lockAudit(tx, audit);
  if (input.keys.length > 0) await tx.query('DELETE FROM throttle WHERE key = ANY($1::text[])', [input.keys]);
  const before = await readGlobal(tx);
  if (before.consecutiveFailures !== 0 || before.alertSince !== 0) await writeGlobal(tx, EMPTY_GLOBAL_RECORD);
  const entry = await appendAudit(tx, audit, input.event);
  if (before.alertSince > 0) {
    await appendAudit(tx, audit, {
      kind: 'alert', method: 'passcode', result: 'cleared', reason: 'login_succeeded', subject: 'service',
      source: null, device: null, detail: { consecutiveFailures: before.consecutiveFailures, alertSince: new Date(before.alertSince).toISOString() },
    });
  }
  return entry;
}

/** Most successful logins one transaction records. */
const MAX_BATCH = 256;

/**
 * Successful logins recorded together: while one transaction is in flight the next logins queue,
 * and then go in one transaction (one audit lock, one chain read, one INSERT, one commit), the same
 * rows in the same order as one transaction each. In a boot storm this keeps the nodes' pools from
 * queueing behind the audit lock one login at a time. Every login of a failed batch is refused
 * (UNAVAILABLE), and nothing of it is committed.
 */
export class SuccessBatches {
  private queue: { input: { keys: string[]; event: AuditEvent }; resolve(entry: AuditEntry): void; reject(err: unknown): void }[] = [];
  private running: Promise<void> | null = null;

  constructor(private readonly db: PgDatabase, private readonly audit: AuditContext) {}

  /** Resolves once every login queued so far is committed or refused (before the pool closes). */
  async flushed(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Clears the keys' records and the global count with the login's audit row; resolves once committed. */
  record(input: { keys: string[]; event: AuditEvent }): Promise<AuditEntry> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      this.running ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        try {
          const entries = await this.db.transaction((tx) => this.write(tx, batch.map((b) => b.input)));
          batch.forEach((b, i) => b.resolve(entries[i]!));
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.running = null;
    }
  }

  /** The batch's rows: what `recordSuccessIn` writes for each login, in order. */
  private async write(tx: Queryable, inputs: { keys: string[]; event: AuditEvent }[]): Promise<AuditEntry[]> {
    await lockAudit(tx, this.audit);
    const keys = [...new Set(inputs.flatMap((i) => i.keys))];
    if (keys.length > 0) await tx.query('DELETE FROM throttle WHERE key = ANY($1::text[])', [keys]);
    const before = await readGlobal(tx);
    if (before.consecutiveFailures !== 0 || before.alertSince !== 0) await writeGlobal(tx, EMPTY_GLOBAL_RECORD);
    const events: AuditEvent[] = inputs.map((i) => i.event);
    // The first login clears a raised alert: its "alert cleared" row follows its own, as when each is alone.
    if (before.alertSince > 0) {
      events.splice(1, 0, {
        kind: 'alert', method: 'passcode', result: 'cleared', reason: 'login_succeeded', subject: 'service',
        source: null, device: null, detail: { consecutiveFailures: before.consecutiveFailures, alertSince: new Date(before.alertSince).toISOString() },
      });
    }
    const entries = await appendAuditBatch(tx, this.audit, events);
    if (before.alertSince > 0) entries.splice(1, 1);
    return entries;
  }
}

/** Every counter and the global record. */
export async function listThrottle(db: Queryable): Promise<{ records: { key: string; record: ThrottleRecord }[]; global: GlobalThrottleRecord }> {
  const rows = (await db.query<ThrottleRow>('SELECT * FROM throttle ORDER BY key COLLATE "C"')).rows;
  return { records: rows.map((row) => ({ key: row.key, record: toRecord(row) })), global: await readGlobal(db) };
}

/** Removes an address's counters (or all of them, and/or the global record) with the audit row, in one transaction. */
export async function clearThrottle(db: PgDatabase, audit: AuditContext, input: { address?: string; all?: boolean; resetAlert?: boolean; event: AuditEvent }): Promise<{ cleared: number; alertCleared: boolean }> {
  return db.transaction(async (tx) => {
    await lockAudit(tx, audit);
    let cleared = 0;
    if (input.all) {
      cleared = (await tx.query('DELETE FROM throttle')).rowCount ?? 0;
    } else if (input.address !== undefined) {
      // Compared as text (no LIKE), so no character of an address acts as a wildcard.
      const prefix = `src:${input.address}|`;
      cleared = (await tx.query('DELETE FROM throttle WHERE key = $1 OR left(key, $2) = $3', [`ip:${input.address}`, prefix.length, prefix])).rowCount ?? 0;
    }
    const before = await readGlobal(tx);
    const alertCleared = input.resetAlert === true && (before.consecutiveFailures !== 0 || before.alertSince !== 0);
    if (alertCleared) await writeGlobal(tx, EMPTY_GLOBAL_RECORD);
    await appendAudit(tx, audit, { ...input.event, detail: { ...input.event.detail, cleared, alertCleared, ...(alertCleared ? { consecutiveFailures: before.consecutiveFailures } : {}) } });
    return { cleared, alertCleared };
  });
}
