// The dashboard's live run feed: one poll of the store per process fans run changes out to every connected console (server-sent events).

import type { ServerResponse } from 'node:http';
import type { RunRecord } from '../domain/run.js';
import type { RunWatchStore } from '../engine/admin-ports.js';

/** A run as the console shows it: the record, and whether a running run has gone quiet. */
export type RunView = RunRecord & { stale: boolean };

/** The view of a run at `now`: a running (or rebooting) run with no report for `staleAfterMs` is stale. */
export function runView(run: RunRecord, now: number, staleAfterMs: number): RunView {
  const open = run.status === 'running' || run.status === 'rebooting';
  return { ...run, stale: open && now - Date.parse(run.updatedAt) > staleAfterMs };
}

/**
 * Follows run changes through the store (so changes written by any worker or node are seen) and
 * writes each one as an `event: run` to every subscriber. The store is polled only while someone
 * listens; a comment line keeps idle connections open.
 */
export class RunEvents {
  private readonly subscribers = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | null = null;
  private keepAlive: NodeJS.Timeout | null = null;
  /** The newest change seen, and the runs already sent at exactly that time. */
  private cursor = new Date().toISOString();
  private sentAtCursor = new Set<string>();
  private polling = false;

  constructor(private readonly store: RunWatchStore, private readonly options: { pollMs: number; staleAfterMs: number }) {}

  /** The number of consoles listening. */
  get listeners(): number {
    return this.subscribers.size;
  }

  /** Adds a response (headers already written); it is dropped when it closes. */
  subscribe(res: ServerResponse): void {
    this.subscribers.add(res);
    res.on('close', () => {
      this.subscribers.delete(res);
      if (this.subscribers.size === 0) this.stop();
    });
    if (this.timer === null) {
      this.cursor = new Date(Date.now() - 1000).toISOString();
      this.sentAtCursor.clear();
      this.timer = setInterval(() => void this.poll(), this.options.pollMs);
      this.keepAlive = setInterval(() => { for (const r of this.subscribers) r.write(': keep-alive\n\n'); }, 15_000);
      this.timer.unref();
      this.keepAlive.unref();
    }
  }

  /** Stops polling (when nobody listens, or on shutdown) and ends every stream. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.timer = null;
    this.keepAlive = null;
  }

  /** Ends every open stream (service stop). */
  close(): void {
    this.stop();
    for (const r of this.subscribers) r.end();
    this.subscribers.clear();
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const changed = await this.store.runsChangedSince(this.cursor, 5000);
      const now = Date.now();
      const lines: string[] = [];
      for (const run of changed) {
        const key = `${run.id}@${run.updatedAt}`;
        if (run.updatedAt === this.cursor && this.sentAtCursor.has(key)) continue;
        if (run.updatedAt > this.cursor) { this.cursor = run.updatedAt; this.sentAtCursor = new Set(); }
        this.sentAtCursor.add(key);
        lines.push(`event: run\ndata: ${JSON.stringify(runView(run, now, this.options.staleAfterMs))}\n\n`);
      }
      // One write per listener per poll (not one per run): with many runs reporting, the TLS records and syscalls stay few.
      if (lines.length > 0) {
        const chunk = lines.join('');
        for (const r of this.subscribers) r.write(chunk);
      }
    } catch {
      // A failed read is retried at the next tick.
    } finally {
      this.polling = false;
    }
  }
}
