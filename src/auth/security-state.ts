// The security settings as a running service sees them: cached, and refreshed when the store's revision changes.

import type { SecurityStore, VersionedSecuritySettings } from '../engine/ports.js';

/** How long a comparison with the store counts as current: a change saved by another process applies within this time. */
export const FRESH_MS = 1;

/** Cached security settings that follow the store. */
export class SecurityState {
  private current: VersionedSecuritySettings;
  private timer: NodeJS.Timeout | null = null;
  /** When (performance.now()) the store's revision was last compared with the cached one. */
  private checkedAt = -Infinity;
  private readonly listeners: ((s: VersionedSecuritySettings) => void)[] = [];

  private constructor(private readonly store: SecurityStore, initial: VersionedSecuritySettings) {
    this.current = initial;
  }

  /** Loads the current settings. */
  static async load(store: SecurityStore): Promise<SecurityState> {
    return new SecurityState(store, await store.getSecurity());
  }

  /** The settings in force. */
  get settings(): VersionedSecuritySettings {
    return this.current;
  }

  /** Reloads when the stored revision differs from the cached one; returns true when it changed. */
  async refresh(): Promise<boolean> {
    const started = performance.now();
    const revision = await this.store.getSecurityRevision();
    if (revision === this.current.revision) {
      this.checkedAt = Math.max(this.checkedAt, started);
      return false;
    }
    this.current = await this.store.getSecurity();
    this.checkedAt = Math.max(this.checkedAt, started);
    for (const l of this.listeners) l(this.current);
    return true;
  }

  /**
   * True while the settings were compared with the store less than `FRESH_MS` ago, so a request may
   * use them without asking the store again (what `LoginService.authenticateCached` relies on).
   */
  isFresh(): boolean {
    return performance.now() - this.checkedAt < FRESH_MS;
  }

  /** Calls `listener` after every change that `refresh` picks up. */
  onChange(listener: (s: VersionedSecuritySettings) => void): void {
    this.listeners.push(listener);
  }

  /** Polls the store every `intervalMs` (errors are passed to `onError` and polling goes on). */
  startPolling(intervalMs: number, onError: (err: unknown) => void): void {
    this.stopPolling();
    this.timer = setInterval(() => { this.refresh().catch(onError); }, intervalMs);
    this.timer.unref();
  }

  /** Stops polling. */
  stopPolling(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
