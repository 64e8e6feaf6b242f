// Test helper: the security core in-process on a real SQLite file, with an injected clock and sleep, and a "restart" that reopens the file.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoginService, type IssuedToken, type LoginSource } from '../../src/auth/login-service.js';
import { createArgon2Hasher, type PasscodeHasher } from '../../src/auth/passcode-hasher.js';
import { SecurityAdmin } from '../../src/auth/security-admin.js';
import { SecurityState } from '../../src/auth/security-state.js';
import { createTokenService } from '../../src/auth/token-service.js';
import { testSigningKeys } from './signing-keys.js';
import type { AuthContext } from '../../src/domain/security-settings.js';
import { DEFAULT_THROTTLE_POLICY, type ThrottlePolicy } from '../../src/domain/throttle.js';
import type { Store } from '../../src/engine/ports.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';

/** Cheap argon2id parameters for tests (the production ones are OWASP's minimum). */
export const FAST_ARGON2 = Object.freeze({ memoryCost: 1024, timeCost: 1, parallelism: 1 });
/** The audit chain key the fixture uses. */
export const AUDIT_KEY = Buffer.alloc(32, 7);
/** The throttle digest key the fixture uses. */
export const DIGEST_KEY = Buffer.alloc(32, 9);

/** The outcome of one login attempt, as a plain value. */
export type Attempt =
  | { ok: true; token: IssuedToken }
  | { ok: false; code: string; message: string; retryAfterSeconds: number | null };

/** A running in-process security core. */
export interface SecurityFixture {
  dir: string;
  file: string;
  store: Store;
  login: LoginService;
  admin: SecurityAdmin;
  hasher: PasscodeHasher;
  /** The injected clock (epoch ms); move it with `advance`. */
  clock: { now: number };
  advance(ms: number): void;
  /** Every injected sleep, in ms (the global slowdown). */
  sleeps: number[];
  alerts: number[];
  /** Tries a passcode from a source and returns what happened (never throws for a refusal). */
  attempt(passcode: string, source: LoginSource, context?: AuthContext): Promise<Attempt>;
  /** Closes the store and opens the same file again, with a new login service (a service restart). */
  restart(): Promise<void>;
  /** Sets (or changes) the passcode through the configuration use case. */
  setPasscode(passcode: string): Promise<void>;
  close(): Promise<void>;
}

/** Builds the fixture in a fresh temporary folder (on tmpfs with `inMemoryDisk`, when there is one). */
export async function securityFixture(options: { policy?: Partial<ThrottlePolicy>; hasher?: PasscodeHasher; passcode?: string; start?: number; inMemoryDisk?: boolean } = {}): Promise<SecurityFixture> {
  // Many-run property tests may put the file on tmpfs: the same SQLite code, without waiting for fsync.
  const base = options.inMemoryDisk && existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = mkdtempSync(join(base, 'deployr-sec-'));
  const file = join(dir, 'deployr.db');
  const policy: ThrottlePolicy = { ...DEFAULT_THROTTLE_POLICY, ...options.policy };
  const hasher = options.hasher ?? createArgon2Hasher({ params: FAST_ARGON2 });
  const clock = { now: options.start ?? Date.UTC(2026, 10, 28, 9, 0, 0) };
  const sleeps: number[] = [];
  const alerts: number[] = [];

  const build = async (): Promise<{ store: Store; login: LoginService; admin: SecurityAdmin }> => {
    const store = openSqliteStore(file, AUDIT_KEY);
    const security = await SecurityState.load(store);
    const tokens = await createTokenService(await testSigningKeys(store), { ttlSeconds: 3600, now: () => new Date(clock.now) });
    const login = new LoginService({
      store, security, hasher, tokens, digestKey: DIGEST_KEY, policy,
      now: () => clock.now, sleep: async (ms) => { sleeps.push(ms); }, onAlert: (n) => alerts.push(n),
    });
    return { store, login, admin: new SecurityAdmin(store, hasher, () => new Date(clock.now)) };
  };

  let parts = await build();
  const fixture: SecurityFixture = {
    dir, file, hasher, clock, sleeps, alerts,
    get store() { return parts.store; },
    get login() { return parts.login; },
    get admin() { return parts.admin; },
    advance(ms) { clock.now += ms; },
    async attempt(passcode, source, context = 'boot') {
      try {
        return { ok: true, token: await parts.login.loginWithPasscode({ passcode, context, taskSequence: null, source }) };
      } catch (err) {
        const e = err as { code?: string; message: string; details?: { retryAfterSeconds?: number } };
        if (!e.code) throw err;
        return { ok: false, code: e.code, message: e.message, retryAfterSeconds: e.details?.retryAfterSeconds ?? null };
      }
    },
    async restart() {
      await parts.store.close();
      parts = await build();
    },
    async setPasscode(passcode) {
      await parts.admin.apply([{ kind: 'passcode', passcode }]);
    },
    async close() {
      await parts.store.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (options.passcode) await fixture.setPasscode(options.passcode);
  return fixture;
}

/** A source with an address and an optional device id. */
export function source(address: string, deviceId: string | null = null): LoginSource {
  return { address, deviceId };
}
