// Throttling of failed logins: growing delays per source, a global alert, and no lockout an attacker can use.

/** What the store keeps for one source (an address, or a device id). */
export interface ThrottleRecord {
  /** Failures counted since the last success (a repeated identical wrong value counts once). */
  failures: number;
  /** A short keyed digest of the last wrong value, so an identical retry does not escalate. */
  lastDigest: string | null;
  /** Epoch milliseconds of the last failure. */
  lastFailureAt: number;
  /** Epoch milliseconds until which this source is refused with 429. */
  blockedUntil: number;
}

/** The global state: consecutive failures across every source. */
export interface GlobalThrottleRecord {
  consecutiveFailures: number;
  /** Epoch milliseconds when the alert was raised; 0 when there is none. */
  alertSince: number;
}

/** The throttling parameters. */
export interface ThrottlePolicy {
  /** Failures a source (an address, or an address and device id) may make before delays start (typos happen). */
  freeFailures: number;
  /**
   * Failures one address may make across all the device ids it sends before delays start. Larger,
   * so that several machines behind one address (NAT) do not share three typos; an attacker who
   * invents device ids is still held to this budget.
   */
  addressFreeFailures: number;
  /** The first delay, doubled with every further failure. */
  baseDelayMs: number;
  /** The longest delay. */
  maxDelayMs: number;
  /** A source's failures are forgotten after this long without one. */
  forgetAfterMs: number;
  /** Consecutive failures (all sources) that raise the alert. */
  globalAlertThreshold: number;
  /** While the alert is raised, every passcode check waits this long first. */
  globalSlowdownMs: number;
}

/** Defaults: 3 free failures per source (10 per address), then 1 s doubling to 15 min; alert after 100 consecutive failures. */
export const DEFAULT_THROTTLE_POLICY: ThrottlePolicy = Object.freeze({
  freeFailures: 3,
  addressFreeFailures: 10,
  baseDelayMs: 1_000,
  maxDelayMs: 15 * 60_000,
  forgetAfterMs: 24 * 60 * 60_000,
  globalAlertThreshold: 100,
  globalSlowdownMs: 250,
});

/** A source with no failures. */
export const EMPTY_THROTTLE_RECORD: ThrottleRecord = Object.freeze({ failures: 0, lastDigest: null, lastFailureAt: 0, blockedUntil: 0 });

/** A global state with no failures. */
export const EMPTY_GLOBAL_RECORD: GlobalThrottleRecord = Object.freeze({ consecutiveFailures: 0, alertSince: 0 });

/** Seconds a source must still wait, or 0 when it may try now. */
export function retryAfterSeconds(record: ThrottleRecord, now: number): number {
  return record.blockedUntil > now ? Math.ceil((record.blockedUntil - now) / 1000) : 0;
}

/**
 * The delay after the given number of failures: none before `freeFailures`, then the base delay
 * from the `freeFailures`-th failure on, doubling with each further one. So a source gets exactly
 * `freeFailures` guesses at once, as docs/security.md states, and then one per delay.
 */
export function delayAfter(failures: number, policy: ThrottlePolicy): number {
  const over = failures - policy.freeFailures;
  if (over < 0) return 0;
  return Math.min(policy.baseDelayMs * 2 ** Math.min(over, 40), policy.maxDelayMs);
}

/** True when `digest` is the source's last wrong value again (and not forgotten): refused, but not escalated. */
export function isRepeat(record: ThrottleRecord, digest: string, now: number, policy: ThrottlePolicy): boolean {
  const stale = record.lastFailureAt > 0 && now - record.lastFailureAt > policy.forgetAfterMs;
  return !stale && record.failures > 0 && record.lastDigest === digest;
}

/** The record after one more failure with the wrong value's digest. */
export function afterFailure(record: ThrottleRecord, digest: string, now: number, policy: ThrottlePolicy): ThrottleRecord {
  const stale = record.lastFailureAt > 0 && now - record.lastFailureAt > policy.forgetAfterMs;
  const base = stale ? EMPTY_THROTTLE_RECORD : record;
  if (isRepeat(record, digest, now, policy)) {
    // The same wrong value again (a technician retrying a typo): refused, but not escalated.
    return { ...base, lastFailureAt: now, blockedUntil: Math.max(base.blockedUntil, now + delayAfter(base.failures, policy)) };
  }
  const failures = base.failures + 1;
  return { failures, lastDigest: digest, lastFailureAt: now, blockedUntil: now + delayAfter(failures, policy) };
}

/** The global record after a failure; `raised` is true when this failure raised the alert. */
export function globalAfterFailure(g: GlobalThrottleRecord, now: number, policy: ThrottlePolicy): { next: GlobalThrottleRecord; raised: boolean } {
  const consecutiveFailures = g.consecutiveFailures + 1;
  const raised = g.alertSince === 0 && consecutiveFailures >= policy.globalAlertThreshold;
  return { next: { consecutiveFailures, alertSince: raised ? now : g.alertSince }, raised };
}

/** Where a login attempt comes from, for throttling. */
export interface ThrottleSource {
  address: string;
  deviceId: string | null;
}

/**
 * The counters an attempt is counted on. The source itself (the address with the device id it sent,
 * or the address alone) has the normal budget; the address as a whole has `addressFreeFailures`.
 * A device id is never counted on its own: it is not authenticated, so an attacker could otherwise
 * send a victim's device id from elsewhere and lock that machine out.
 */
export function throttleKeys(source: ThrottleSource): string[] {
  return [`src:${source.address}|${source.deviceId ?? ''}`, `ip:${source.address}`];
}

/** What a counter key (see `throttleKeys`) counts: one source (an address with the device id it sent, if any), or an address as a whole. */
export function describeThrottleKey(key: string): { scope: 'source' | 'address'; address: string; deviceId: string | null } {
  if (key.startsWith('ip:')) return { scope: 'address', address: key.slice(3), deviceId: null };
  const rest = key.startsWith('src:') ? key.slice(4) : key;
  const bar = rest.lastIndexOf('|');
  const deviceId = bar >= 0 ? rest.slice(bar + 1) : '';
  return { scope: 'source', address: bar >= 0 ? rest.slice(0, bar) : rest, deviceId: deviceId === '' ? null : deviceId };
}

/** The policy that applies to one counter (the address counter has its own free budget). */
export function policyForKey(key: string, policy: ThrottlePolicy): ThrottlePolicy {
  return key.startsWith('ip:') ? { ...policy, freeFailures: policy.addressFreeFailures } : policy;
}
