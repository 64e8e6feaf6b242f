// The security revision as every request sees it: cached, dropped on a NOTIFY from any node (LISTEN) or on this store's own write, and re-read at least every 400 ms.

import pg from 'pg';

/** The longest a cached revision is used without reading it again (the fallback when LISTEN is down). */
export const REVISION_MAX_AGE_MS = 400;
/** How long the listener waits before connecting again after losing its connection. */
const RECONNECT_MS = 500;

/**
 * Follows the revision for `getSecurityRevision`, which every request calls: answered from memory
 * while fresh. A NOTIFY on `channel` (sent in the same transaction as each change that moves the
 * revision or the signing keys) or `invalidate()` (after this store's own write) makes the next call
 * read it again; so does its age passing REVISION_MAX_AGE_MS, so another node's change is seen within
 * a second even when the LISTEN connection is lost. No timer runs except while reconnecting.
 */
export class SecurityRevisionCache {
  private value: number | null = null;
  private readAt = -Infinity;
  /** Moves on every invalidation; a read started before one does not fill the cache. */
  private generation = 0;
  private inflight: { generation: number; promise: Promise<number> } | null = null;
  private listener: pg.Client | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly read: () => Promise<number>, private readonly config: pg.ClientConfig, private readonly channel: string) {}

  /** Starts listening (a failure is not fatal: the age limit still applies and it tries again). */
  async start(): Promise<void> {
    await this.connect();
  }

  /** Makes the next `get` read the stored revision. */
  invalidate(): void {
    this.generation += 1;
    this.value = null;
  }

  /** The revision: from memory while fresh, otherwise one read shared by everyone asking meanwhile. */
  async get(): Promise<number> {
    if (this.value !== null && performance.now() - this.readAt < REVISION_MAX_AGE_MS) return this.value;
    const generation = this.generation;
    if (this.inflight !== null && this.inflight.generation === generation) return this.inflight.promise;
    const startedAt = performance.now();
    const promise = this.read().then((revision) => {
      if (this.generation === generation) { this.value = revision; this.readAt = startedAt; }
      return revision;
    }).finally(() => { if (this.inflight?.promise === promise) this.inflight = null; });
    this.inflight = { generation, promise };
    return promise;
  }

  /** True while the LISTEN connection is up (tests). */
  get listening(): boolean {
    return this.listener !== null;
  }

  /** Ends the listener and any reconnect timer. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const listener = this.listener;
    this.listener = null;
    if (listener) await listener.end().catch(() => { /* already gone */ });
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client(this.config);
    const lost = (): void => {
      if (this.listener === client) this.listener = null;
      client.removeAllListeners('notification');
      client.end().catch(() => { /* already gone */ });
      // Whatever was notified meanwhile is missed: read again, and listen again soon.
      this.invalidate();
      this.scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', () => { if (this.listener === client) lost(); });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
    } catch {
      client.removeAllListeners('end');
      lost();
      return;
    }
    if (this.closed) { await client.end().catch(() => { /* already gone */ }); return; }
    client.on('notification', (n) => { if (n.channel === this.channel) this.invalidate(); });
    this.listener = client;
    this.invalidate();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== null) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, RECONNECT_MS);
    this.reconnectTimer.unref();
  }
}
