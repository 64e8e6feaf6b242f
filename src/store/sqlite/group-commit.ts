// Group commit: writes submitted in the same turn of the event loop share one transaction, and so one fsync.

import type { SqliteDatabase } from './connection.js';

interface Pending {
  op: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Batches small write transactions. Each operation runs in its own savepoint inside one `BEGIN
 * IMMEDIATE` transaction, so a failing operation is undone alone; the promises settle only after the
 * COMMIT has returned (with synchronous=FULL: after the fsync). If the transaction as a whole fails, or
 * SQLite abandons it after an error, every operation of the batch is rejected: none of them happened.
 * With synchronous=FULL each commit waits for the disk, and better-sqlite3 waits on the event loop's
 * thread, so during a boot storm one commit for many logins is what keeps the service responsive.
 */
export class GroupCommit {
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(private readonly db: SqliteDatabase) {}

  /** Runs `op` (synchronous SQLite work) in the next batch; resolves with its result once committed. */
  submit<T>(op: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ op, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits everything submitted so far (also called before the database is closed). */
  flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const outcomes: ({ ok: true; value: unknown } | { ok: false; err: unknown })[] = [];
    try {
      this.db.transaction(() => {
        for (const item of batch) {
          try {
            outcomes.push({ ok: true, value: this.db.transaction(item.op)() });
          } catch (err) {
            // An error SQLite answers by abandoning the whole transaction (I/O, disk full) ends the batch.
            if (!this.db.inTransaction) throw err;
            outcomes.push({ ok: false, err });
          }
        }
      }).immediate();
    } catch (err) {
      for (const item of batch) item.reject(err);
      return;
    }
    batch.forEach((item, i) => {
      const outcome = outcomes[i] as (typeof outcomes)[number];
      if (outcome.ok) item.resolve(outcome.value);
      else item.reject(outcome.err);
    });
  }
}
