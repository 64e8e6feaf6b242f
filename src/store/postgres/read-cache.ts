// A value read from PostgreSQL and kept in memory: dropped on invalidate() (a NOTIFY from any node, or this store's own write) and re-read at least every 400 ms.

/** The longest a cached value is used without reading it again (the fallback when LISTEN is down). */
export const READ_CACHE_MAX_AGE_MS = 400;

/**
 * One cached read. `get` answers from memory while the value is fresh; otherwise one read is shared
 * by everyone asking meanwhile. A read that started before an `invalidate()` does not fill the cache
 * (it may have missed the change), so after an own write or a notification the next `get` is current.
 */
export class ReadCache<T> {
  private value: { v: T; readAt: number } | null = null;
  /** Moves on every invalidation. */
  private generation = 0;
  private inflight: { generation: number; promise: Promise<T> } | null = null;

  constructor(private readonly read: () => Promise<T>, private readonly maxAgeMs = READ_CACHE_MAX_AGE_MS) {}

  /** Makes the next `get` read again. */
  invalidate(): void {
    this.generation += 1;
    this.value = null;
  }

  /** The value: from memory while fresh, otherwise read (once for all callers waiting). */
  async get(): Promise<T> {
    if (this.value !== null && performance.now() - this.value.readAt < this.maxAgeMs) return this.value.v;
    const generation = this.generation;
    if (this.inflight !== null && this.inflight.generation === generation) return this.inflight.promise;
    const startedAt = performance.now();
    const promise = this.read().then((v) => {
      if (this.generation === generation) this.value = { v, readAt: startedAt };
      return v;
    }).finally(() => { if (this.inflight?.promise === promise) this.inflight = null; });
    this.inflight = { generation, promise };
    return promise;
  }
}
