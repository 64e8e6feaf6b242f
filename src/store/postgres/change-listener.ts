// LISTEN on the store's channel: every node's changes (security revision, signing keys, task sequences) reach this process's caches; reconnects when the connection is lost.

import pg from 'pg';

/** How long the listener waits before connecting again after losing its connection. */
const RECONNECT_MS = 500;

/**
 * One dedicated connection that LISTENs on `channel` and calls `onChange(payload)` for every
 * NOTIFY (sent in the same transaction as the change, so delivered once it is committed). When the
 * connection is lost, or when it (re)connects, `onChange(null)` says "anything may have changed".
 * No timer runs except while reconnecting; `close()` ends it.
 */
export class ChangeListener {
  private client: pg.Client | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly config: pg.ClientConfig, private readonly channel: string, private readonly onChange: (payload: string | null) => void) {}

  /** Starts listening (a failure is not fatal: caches still expire, and it tries again). */
  async start(): Promise<void> {
    await this.connect();
  }

  /** True while the LISTEN connection is up. */
  get listening(): boolean {
    return this.client !== null;
  }

  /** Ends the connection and any reconnect timer. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const client = this.client;
    this.client = null;
    if (client) {
      client.removeAllListeners('end');
      client.removeAllListeners('error');
      client.on('error', () => { /* closing */ });
      await client.end().catch(() => { /* already gone */ });
    }
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client(this.config);
    let gone = false;
    const lost = (): void => {
      if (gone) return;
      gone = true;
      if (this.client === client) this.client = null;
      client.removeAllListeners('notification');
      client.end().catch(() => { /* already gone */ });
      // Whatever was notified meanwhile is missed: everything is read again, and it listens again soon.
      this.onChange(null);
      this.scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', lost);
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
    } catch {
      lost();
      return;
    }
    if (this.closed) {
      gone = true;
      await client.end().catch(() => { /* already gone */ });
      return;
    }
    client.on('notification', (n) => { if (n.channel === this.channel) this.onChange(n.payload ?? null); });
    this.client = client;
    this.onChange(null);
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
