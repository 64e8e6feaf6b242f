// Turns at a bounded resource (the argon2 checks), handed out round-robin over sources so that one busy source cannot make another wait behind all of its requests.

import { DeployrError } from '../domain/errors.js';

/**
 * Runs at most `limit` tasks at once. The rest wait in lanes, one per source (a lane is any string:
 * deployr uses the client's address): a freed turn goes to the lane that has waited longest since
 * its last turn, so a source with one check waits for at most one turn per other waiting source,
 * not for every check they queued. Within a lane, first come, first served. When `maxWaiting`
 * tasks already wait, a new one is refused (AUTH_THROTTLED, retry after a second) rather than
 * queued.
 */
export class FairTurns {
  private active = 0;
  private waitingCount = 0;
  /** Waiting tasks by lane; the Map's order is the lanes' order of service. */
  private readonly lanes = new Map<string, (() => void)[]>();

  constructor(private readonly limit: number, private readonly maxWaiting: number) {}

  /** Runs `task` in its turn for `lane` ('' for callers that have no source). */
  async run<T>(task: () => Promise<T>, lane = ''): Promise<T> {
    if (this.active >= this.limit) {
      if (this.waitingCount >= this.maxWaiting) {
        throw new DeployrError('AUTH_THROTTLED', 'Too many passcode checks at once; wait before trying again.', { retryAfterSeconds: 1 });
      }
      await new Promise<void>((resolve) => {
        const queue = this.lanes.get(lane);
        if (queue) queue.push(resolve);
        else this.lanes.set(lane, [resolve]);
        this.waitingCount += 1;
      });
    }
    this.active += 1;
    try {
      return await task();
    } finally {
      this.active -= 1;
      this.next();
    }
  }

  /** How many tasks wait for a turn. */
  get waiting(): number {
    return this.waitingCount;
  }

  /** Gives the freed turn to the head of the first lane, and sends that lane to the back. */
  private next(): void {
    const first = this.lanes.entries().next();
    if (first.done === true) return;
    const [lane, queue] = first.value;
    const resolve = queue.shift() as () => void;
    this.lanes.delete(lane);
    if (queue.length > 0) this.lanes.set(lane, queue);
    this.waitingCount -= 1;
    resolve();
  }
}
