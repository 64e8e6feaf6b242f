// Group commit: writes submitted in the same turn of the event loop share one transaction, and their WAL is synced off the event loop.

import { close, fdatasync, open } from 'node:fs';
import type Database from 'better-sqlite3';
import { DeployrError } from '../../domain/errors.js';
import type { SqliteDatabase } from './connection.js';

interface Pending {
  op: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** How a file is synced to the disk: calls `done` once its data is there (or with the error). */
export type SyncFile = (path: string, done: (err: NodeJS.ErrnoException | null) => void) => void;

/** Syncs a file's data to the disk on the thread pool (open, fdatasync, close). */
export function syncFile(path: string, done: (err: NodeJS.ErrnoException | null) => void): void {
  open(path, 'r', (openErr, fd) => {
    if (openErr) { done(openErr); return; }
    fdatasync(fd, (syncErr) => close(fd, (closeErr) => done(syncErr ?? closeErr ?? null)));
  });
}

/**
 * Batches small write transactions. Each operation runs in its own savepoint inside one `BEGIN
 * IMMEDIATE` transaction, so a failing operation is undone alone. If the transaction as a whole fails,
 * or SQLite abandons it after an error, every operation of the batch is rejected: none of them happened.
 *
 * The promises settle only once the batch is on the disk, as with `synchronous=FULL`, but the wait
 * is not on the event loop. The batch commits with `synchronous=NORMAL` (in WAL mode: the frames are
 * written to the WAL, not yet synced), then the WAL file is synced with `fdatasync` on the thread
 * pool, and only then are the batch's promises settled. While one sync runs, the batches committed
 * meanwhile wait for the next one, so a boot storm costs a few syncs rather than one per login. A
 * crash (kill -9) loses nothing that was committed; a power loss loses only batches whose promises
 * had not settled, so no client was told of them. (With `synchronous=FULL` better-sqlite3 waits for
 * the disk on the event loop's thread: during a storm that stalled every request for about 1.5 ms per
 * commit.) An in-memory database commits with the connection's own setting and settles at once.
 */
export class GroupCommit {
  private pending: Pending[] = [];
  private scheduled = false;
  /** Committed batches waiting for a sync that starts after their commit: each settles its promises (with the sync's error, if any). */
  private unsynced: ((syncErr?: unknown) => void)[] = [];
  private syncing = false;
  /** Set by `close()`: later submissions are refused instead of reaching a closed database. */
  private closed = false;
  /** Called when a sync ends and none is left running (what each `close()` waits for). */
  private idleWaiters: (() => void)[] = [];
  private readonly walPath: string | null;
  private syncStatements: { normal: Database.Statement<unknown[], unknown>; full: Database.Statement<unknown[], unknown> } | null = null;

  /** `sync` is how the WAL file is synced (tests hold it to watch the order). */
  constructor(private readonly db: SqliteDatabase, private readonly sync: SyncFile = syncFile) {
    this.walPath = db.memory ? null : `${db.name}-wal`;
  }

  /** Runs `op` (synchronous SQLite work) in the next batch; resolves with its result once committed and on the disk. */
  submit<T>(op: () => T): Promise<T> {
    // A write that arrives while the service stops (a request finishing late, a timer) must not
    // reach the closed database: it is refused, like any write when the store cannot take it.
    if (this.closed) return Promise.reject(new DeployrError('UNAVAILABLE', 'The store is closed (the service is stopping).'));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ op, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Commits what is pending and refuses what comes after; resolves once every committed batch is
   * synced and settled. Call it before closing the database.
   */
  async close(): Promise<void> {
    this.flush();
    this.closed = true;
    if (this.syncing) await new Promise<void>((resolve) => { this.idleWaiters.push(resolve); });
  }

  /** Commits everything submitted so far. */
  flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const outcomes: ({ ok: true; value: unknown } | { ok: false; err: unknown })[] = [];
    const deferSync = this.walPath !== null;
    if (deferSync) {
      this.syncStatements ??= { normal: this.db.prepare('PRAGMA synchronous = NORMAL'), full: this.db.prepare('PRAGMA synchronous = FULL') };
      this.syncStatements.normal.run();
    }
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
    } finally {
      // Every other write of this connection (settings, imports) keeps synchronous=FULL.
      if (deferSync) this.syncStatements?.full.run();
    }
    /** Settles each operation with its outcome, or, when the sync failed, the ones that happened with its error. */
    const settle = (syncErr?: unknown): void => batch.forEach((item, i) => {
      const outcome = outcomes[i] as (typeof outcomes)[number];
      if (!outcome.ok) item.reject(outcome.err);
      else if (syncErr !== undefined) item.reject(syncErr);
      else item.resolve(outcome.value);
    });
    if (!deferSync) { settle(); return; }
    this.unsynced.push(settle);
    if (!this.syncing) this.startSync();
  }

  /** Syncs the WAL for every batch committed so far; batches committed meanwhile wait for the next sync. */
  private startSync(): void {
    const waiting = this.unsynced;
    this.unsynced = [];
    this.syncing = true;
    this.sync(this.walPath as string, (err) => {
      this.syncing = false;
      // A failed sync: the batch is committed but may not be on the disk, so nobody is told it is.
      for (const settle of waiting) settle(err ?? undefined);
      if (this.unsynced.length > 0) this.startSync();
      else for (const resolve of this.idleWaiters.splice(0)) resolve();
    });
  }
}
