// Console sign-in and sessions: throttled and audited like passcode logins; server-side sessions kept only as hashes.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuditEvent } from '../domain/audit.js';
import { ADMIN_NAME_PATTERN, type AdminRole, type Administrator } from '../domain/administrator.js';
import { DeployrError, isDeployrError } from '../domain/errors.js';
import {
  DEFAULT_THROTTLE_POLICY, policyForKey, retryAfterSeconds, throttleKeys, type ThrottlePolicy,
} from '../domain/throttle.js';
import type { AdminSessionStore, AdministratorStore } from '../engine/admin-ports.js';
import type { AuditStore, LoginStore } from '../engine/ports.js';
import { LocalCheckGate, type CheckGate } from './check-gate.js';
import { authFailed } from './login-service.js';
import type { PasscodeHasher } from './passcode-hasher.js';

/** How long a console session lasts. */
export interface AdminSessionPolicy {
  /** A session unused for this long ends (seconds). */
  idleSeconds: number;
  /** A session ends this long after sign-in, used or not (seconds). */
  maxSeconds: number;
}

/** Defaults: 30 minutes idle, 12 hours at most. */
export const DEFAULT_ADMIN_SESSION_POLICY: AdminSessionPolicy = Object.freeze({ idleSeconds: 30 * 60, maxSeconds: 12 * 3600 });

/** A signed-in administrator, as the routes see them. */
export interface AdminPrincipal {
  name: string;
  role: AdminRole;
  /** The SHA-256 of the session token (hex): identifies the session without being it. */
  sessionHash: string;
  /** The token the console must echo in `X-CSRF-Token` on every state-changing request. */
  csrfToken: string;
  /** Epoch ms when the session ends at the latest, and when it ends if unused. */
  expiresAt: number;
  idleExpiresAt: number;
}

const NAME = new RegExp(ADMIN_NAME_PATTERN);
/** The last-seen time is written at most this often per session (ms), and always well within the idle limit. */
const TOUCH_EVERY_MS = 5_000;

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** What sign-in and sessions need. */
export interface AdminSessionDeps {
  store: AdministratorStore & AdminSessionStore & LoginStore & AuditStore;
  hasher: PasscodeHasher;
  /** Keys the throttle's digests of wrong values and the CSRF tokens. */
  digestKey: Buffer;
  policy?: AdminSessionPolicy;
  throttle?: ThrottlePolicy;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Console sign-in, sign-out and session checks. */
export class AdminSessions {
  private readonly policy: AdminSessionPolicy;
  private readonly throttle: ThrottlePolicy;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly gate: CheckGate = new LocalCheckGate();
  /** Throttled sources already audited in this waiting period (one row per period, like passcode logins). */
  private readonly quiet = new Map<string, number>();

  constructor(private readonly deps: AdminSessionDeps) {
    this.policy = deps.policy ?? DEFAULT_ADMIN_SESSION_POLICY;
    this.throttle = deps.throttle ?? DEFAULT_THROTTLE_POLICY;
    this.now = deps.now ?? Date.now;
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** The session settings in force. */
  get sessionPolicy(): AdminSessionPolicy {
    return this.policy;
  }

  /** The CSRF token of a session: a keyed digest of its token (nothing more to store). */
  private csrfFor(token: string): string {
    return createHmac('sha256', this.deps.digestKey).update('admin-csrf\0').update(token).digest('base64url');
  }

  /** True when `given` is the CSRF token of the session (constant time). */
  csrfMatches(principal: AdminPrincipal, given: string | undefined): boolean {
    if (typeof given !== 'string') return false;
    const a = Buffer.from(principal.csrfToken);
    const b = Buffer.from(given);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /**
   * Signs in: AUTH_FAILED for every reason (unknown name, wrong password), AUTH_THROTTLED with
   * `retryAfterSeconds` while the source must wait; counted per source (address and name) and per
   * address, with passcode logins' counters and policy, and audited (method `admin`). Returns the
   * session token for the cookie.
   */
  async signIn(input: { name: string; password: string; address: string }): Promise<{ token: string; principal: AdminPrincipal }> {
    const nameOk = NAME.test(input.name);
    const admin = nameOk ? await this.deps.store.getAdministrator(input.name) : null;
    // An unknown name is never written to the audit trail (it may be a password typed in the wrong field).
    const subject = admin ? admin.name : '(unknown)';
    const keys = throttleKeys({ address: input.address, deviceId: `admin:${nameOk ? input.name : '?'}` });
    const base = { kind: 'login' as const, method: 'admin', subject, source: input.address, device: null };
    const { records, global } = await this.deps.store.throttleState(keys);
    const now = this.now();
    let wait = 0;
    for (const record of records.values()) wait = Math.max(wait, retryAfterSeconds(record, now));
    if (wait > 0) return this.refuseThrottled(keys, base, wait, now);
    const digest = createHmac('sha256', this.deps.digestKey).update('admin\0').update(input.name).update('\0').update(input.password).digest('hex');
    const allowances = keys.map((key) => Math.max(1, policyForKey(key, this.throttle).freeFailures + 1 - (records.get(key)?.failures ?? 0)));
    const full = await this.gate.enter(keys, digest, allowances);
    if (full !== null) return this.refuseThrottled(keys, base, 1, now);
    try {
      const slow = global.alertSince > 0 && this.throttle.globalSlowdownMs > 0;
      if (slow) await this.sleep(this.throttle.globalSlowdownMs);
      let ok = false;
      try {
        ok = admin ? await this.deps.hasher.verify(admin.passwordHash, input.password) : await this.deps.hasher.verifyDummy(input.password);
      } catch (err) {
        if (isDeployrError(err, 'AUTH_THROTTLED')) return await this.refuseThrottled(keys, base, 1, now);
        throw err;
      }
      if (!ok || !admin) {
        await this.deps.store.recordFailure({ keys, digest: digest.slice(0, 8), now, policy: this.throttle, event: { ...base, result: 'failure', reason: admin ? 'wrong_password' : 'unknown_administrator', detail: {} } });
        throw authFailed();
      }
      return await this.open(admin, input.address, keys);
    } finally {
      this.gate.leave(keys, digest);
    }
  }

  /** Creates the session, audited with the success (which also resets the source's counters). */
  private async open(admin: Administrator, address: string, keys: string[]): Promise<{ token: string; principal: AdminPrincipal }> {
    const token = randomBytes(32).toString('base64url');
    const idHash = sha256(token);
    const now = this.now();
    await this.deps.store.createAdminSession({ idHash, name: admin.name, createdAt: now, lastSeenAt: now, source: address });
    await this.deps.store.recordSuccess({ keys, event: { kind: 'login', method: 'admin', subject: admin.name, source: address, device: null, result: 'success', reason: 'ok', detail: { role: admin.role, session: idHash.slice(0, 12) } } });
    return { token, principal: this.principal(admin, { idHash, createdAt: now, lastSeenAt: now }, token) };
  }

  private principal(admin: Administrator, s: { idHash: string; createdAt: number; lastSeenAt: number }, token: string): AdminPrincipal {
    return {
      name: admin.name, role: admin.role, sessionHash: s.idHash, csrfToken: this.csrfFor(token),
      expiresAt: s.createdAt + this.policy.maxSeconds * 1000, idleExpiresAt: s.lastSeenAt + this.policy.idleSeconds * 1000,
    };
  }

  private async refuseThrottled(keys: string[], base: Omit<AuditEvent, 'result' | 'reason' | 'detail'>, wait: number, now: number): Promise<never> {
    const key = keys[1] as string;
    if ((this.quiet.get(key) ?? 0) <= now) {
      if (this.quiet.size >= 10_000) this.quiet.delete(this.quiet.keys().next().value as string);
      this.quiet.set(key, now + wait * 1000);
      await this.deps.store.append({ ...base, result: 'failure', reason: 'throttled', detail: { retryAfterSeconds: wait } });
    }
    throw new DeployrError('AUTH_THROTTLED', 'Too many failed attempts; wait before trying again.', { retryAfterSeconds: wait });
  }

  /**
   * The administrator of a session token, or null when there is no such session, it has been idle
   * too long or has reached its absolute limit (then it is removed), or its administrator is gone.
   * The role is read from the administrator now, so a role change applies at once.
   */
  async check(token: string): Promise<AdminPrincipal | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
    const idHash = sha256(token);
    const s = await this.deps.store.getAdminSession(idHash);
    if (!s) return null;
    const now = this.now();
    if (now - s.lastSeenAt > this.policy.idleSeconds * 1000 || now - s.createdAt > this.policy.maxSeconds * 1000) {
      await this.deps.store.deleteAdminSession(idHash);
      return null;
    }
    const admin = await this.deps.store.getAdministrator(s.name);
    if (!admin) return null;
    if (now - s.lastSeenAt >= Math.min(TOUCH_EVERY_MS, (this.policy.idleSeconds * 1000) / 4)) await this.deps.store.touchAdminSession(idHash, now);
    return this.principal(admin, { idHash, createdAt: s.createdAt, lastSeenAt: now }, token);
  }

  /** Ends a session (audited). */
  async signOut(principal: AdminPrincipal, address: string): Promise<void> {
    await this.deps.store.deleteAdminSession(principal.sessionHash);
    await this.deps.store.append({ kind: 'login', method: 'admin', subject: principal.name, source: address, device: null, result: 'signed_out', reason: 'ok', detail: { session: principal.sessionHash.slice(0, 12) } });
  }

  /** Removes expired sessions (called now and then). */
  async sweep(): Promise<number> {
    const now = this.now();
    return this.deps.store.deleteExpiredAdminSessions(now - this.policy.idleSeconds * 1000, now - this.policy.maxSeconds * 1000);
  }
}
