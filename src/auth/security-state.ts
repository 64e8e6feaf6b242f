// The security settings (and the scoped passcodes) as a running service sees them: cached, and refreshed when the store's revision changes.

import type { StoredScopedPasscode } from '../domain/scoped-passcode.js';
import type { ScopedPasscodeStore, SecurityStore, VersionedSecuritySettings } from '../engine/ports.js';

/** A store SecurityState follows: the settings, and the scoped passcodes when the store keeps them. */
export type FollowedStore = SecurityStore & Partial<Pick<ScopedPasscodeStore, 'listScopedPasscodes'>>;

/** How long a comparison with the store counts as current: a change saved by another process applies within this time. */
export const FRESH_MS = 1;

/** Cached security settings that follow the store. */
export class SecurityState {
  private current: VersionedSecuritySettings;
  private timer: NodeJS.Timeout | null = null;
  /** When (performance.now()) the store's revision was last compared with the cached one. */
  private checkedAt = -Infinity;
  private readonly listeners: ((s: VersionedSecuritySettings) => void)[] = [];
  private scoped: { all: readonly StoredScopedPasscode[]; byId: ReadonlyMap<string, StoredScopedPasscode> };

  private constructor(private readonly store: FollowedStore, initial: VersionedSecuritySettings, scoped: readonly StoredScopedPasscode[]) {
    this.current = initial;
    this.scoped = indexScoped(scoped);
  }

  /** Loads the current settings (and scoped passcodes). */
  static async load(store: FollowedStore): Promise<SecurityState> {
    const settings = await store.getSecurity();
    return new SecurityState(store, settings, await store.listScopedPasscodes?.() ?? []);
  }

  /**
   * The scoped passcodes as of the settings' revision (adding or revoking one moves it), with their
   * hashes: for the login service only. Their use counts may be behind; the store counts uses.
   */
  get scopedPasscodes(): readonly StoredScopedPasscode[] {
    return this.scoped.all;
  }

  /** One scoped passcode by id (as of the settings' revision). */
  scopedPasscode(id: string): StoredScopedPasscode | undefined {
    return this.scoped.byId.get(id);
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
    const next = await this.store.getSecurity();
    this.scoped = indexScoped(await this.store.listScopedPasscodes?.() ?? []);
    this.current = next;
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

function indexScoped(all: readonly StoredScopedPasscode[]): { all: readonly StoredScopedPasscode[]; byId: ReadonlyMap<string, StoredScopedPasscode> } {
  return { all: Object.freeze([...all]), byId: new Map(all.map((p) => [p.id, p])) };
}
