// The passcode checks running right now, per throttle counter: so that guesses sent all at once cannot outrun the stored counters.

/**
 * Admits a passcode check for a set of throttle counters (`keys`) and one value (its keyed
 * `digest`). A counter with allowance `a` lets at most `a` different values be checked at the same
 * time; the same value again (a boot storm's passcode) always joins. `leave` must follow every
 * admitted `enter`.
 */
export interface CheckGate {
  /** Null when the check may run (it is then counted until `leave`), otherwise the counter that is full. */
  enter(keys: readonly string[], digest: string, allowances: readonly number[]): Promise<string | null>;
  leave(keys: readonly string[], digest: string): void;
}

/** The checks of one process (or, in the primary, of all its workers): per counter, how many requests per value. */
export class LocalCheckGate implements CheckGate {
  private readonly running = new Map<string, Map<string, number>>();

  /** Synchronous form of `enter`. */
  tryEnter(keys: readonly string[], digest: string, allowances: readonly number[]): string | null {
    for (const [i, key] of keys.entries()) {
      const values = this.running.get(key);
      if (values && !values.has(digest) && values.size >= (allowances[i] ?? 1)) return key;
    }
    for (const key of keys) {
      const values = this.running.get(key) ?? new Map<string, number>();
      values.set(digest, (values.get(digest) ?? 0) + 1);
      this.running.set(key, values);
    }
    return null;
  }

  enter(keys: readonly string[], digest: string, allowances: readonly number[]): Promise<string | null> {
    return Promise.resolve(this.tryEnter(keys, digest, allowances));
  }

  leave(keys: readonly string[], digest: string): void {
    for (const key of keys) {
      const values = this.running.get(key);
      if (!values) continue;
      const n = (values.get(digest) ?? 1) - 1;
      if (n > 0) values.set(digest, n);
      else values.delete(digest);
      if (values.size === 0) this.running.delete(key);
    }
  }
}
