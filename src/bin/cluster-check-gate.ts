// With `serve --workers N`, passcode checks in flight are counted once for all workers, in the primary, over the cluster's IPC channel.

import { LocalCheckGate, type CheckGate } from '../auth/check-gate.js';

/** A worker asks (`gate-enter`, answered by `gate-result`) and reports a finished check (`gate-leave`). */
export type GateRequest =
  | { type: 'gate-enter'; id: number; keys: string[]; digest: string; allowances: number[] }
  | { type: 'gate-leave'; keys: string[]; digest: string };
/** The primary's answer: null when admitted, else the counter that is full. */
export interface GateResult { type: 'gate-result'; id: number; full: string | null }

/** A worker's gate: every check is admitted (or not) by the primary. */
export class WorkerCheckGate implements CheckGate {
  private nextId = 1;
  private readonly pending = new Map<number, (full: string | null) => void>();

  constructor(private readonly send: (m: GateRequest) => boolean) {}

  enter(keys: readonly string[], digest: string, allowances: readonly number[]): Promise<string | null> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      // Without the primary nothing is admitted: refused as throttled (the worker is stopping anyway).
      if (!this.send({ type: 'gate-enter', id, keys: [...keys], digest, allowances: [...allowances] })) this.settle(id, keys[0] ?? 'primary');
    });
  }

  leave(keys: readonly string[], digest: string): void {
    this.send({ type: 'gate-leave', keys: [...keys], digest });
  }

  /** Call with every message from the primary; answers the `gate-result` ones. */
  handle(message: unknown): void {
    const m = message as Partial<GateResult> | null;
    if (m?.type === 'gate-result' && typeof m.id === 'number') this.settle(m.id, m.full ?? null);
  }

  /** The primary went away: every waiting check is refused. */
  refuseAll(): void {
    for (const id of [...this.pending.keys()]) this.settle(id, 'primary');
  }

  private settle(id: number, full: string | null): void {
    const resolve = this.pending.get(id);
    this.pending.delete(id);
    resolve?.(full);
  }
}

/** The primary's side: one count for all workers; a worker's checks are forgotten when it ends. */
export class PrimaryCheckGate {
  private readonly gate = new LocalCheckGate();
  private readonly byWorker = new Map<number, Map<string, { keys: string[]; digest: string; n: number }>>();

  /** Answers a worker's request; returns the reply to send for `gate-enter` (nothing for `gate-leave`). */
  handle(worker: number, message: unknown): GateResult | null {
    const m = message as { type?: unknown; id?: unknown; keys?: unknown; digest?: unknown; allowances?: unknown } | null;
    if (m?.type !== 'gate-enter' && m?.type !== 'gate-leave') return null;
    if (!Array.isArray(m.keys) || !m.keys.every((k) => typeof k === 'string') || typeof m.digest !== 'string') return null;
    const keys = m.keys as string[];
    const entry = `${keys.join('\n')}\n${m.digest}`;
    const mine = this.byWorker.get(worker) ?? new Map<string, { keys: string[]; digest: string; n: number }>();
    this.byWorker.set(worker, mine);
    if (m.type === 'gate-leave') {
      const held = mine.get(entry);
      if (!held) return null;
      this.gate.leave(held.keys, held.digest);
      if (--held.n === 0) mine.delete(entry);
      return null;
    }
    const full = this.gate.tryEnter(keys, m.digest, Array.isArray(m.allowances) ? (m.allowances as number[]) : []);
    if (full === null) {
      const held = mine.get(entry) ?? { keys, digest: m.digest, n: 0 };
      held.n += 1;
      mine.set(entry, held);
    }
    return { type: 'gate-result', id: typeof m.id === 'number' ? m.id : 0, full };
  }

  /** A worker ended: its checks are no longer running. */
  forget(worker: number): void {
    for (const held of this.byWorker.get(worker)?.values() ?? []) for (let i = 0; i < held.n; i++) this.gate.leave(held.keys, held.digest);
    this.byWorker.delete(worker);
  }
}
