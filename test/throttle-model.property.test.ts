// Model-based property test (fast-check): random fail / succeed / wait / restart / rotate sequences against a model of the expected throttle, passcode and token state.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_THROTTLE_POLICY, type ThrottlePolicy } from '../src/domain/throttle.js';
import { securityFixture, type Attempt, type SecurityFixture } from './helpers/security-fixture.js';

const POLICY: ThrottlePolicy = { ...DEFAULT_THROTTLE_POLICY, globalAlertThreshold: 9 };
const ADDRESSES = ['10.0.0.1', '192.168.7.9'];
const DEVICES = [null, 'pc-a', 'pc-b'];
const WRONG = ['wrong-Alpha-1', 'wrong-Bravo-2', 'wrong-Charlie-3', 'wrong-Delta-4'];
const START = Date.UTC(2026, 10, 28, 9, 0, 0);

interface Counter { failures: number; last: string | null; lastAt: number; blockedUntil: number }

/** What the spec says the state is. Written from the rules, not from the implementation. */
interface Model {
  now: number;
  counters: Map<string, Counter>;
  consecutive: number;
  alert: boolean;
  alertsRaised: number;
  overlapMs: number;
  generation: number;
  current: string;
  previous: { value: string; generation: number; validUntil: number } | null;
  /** The last passcode that was replaced, even after its window (trying it then is a wrong value). */
  superseded: string | null;
  tokens: { token: string; generation: number; expiresAt: number }[];
  /** The last failed attempt (for retrying the same value). */
  lastFailure: { address: string; device: string | null; value: string } | null;
}

interface Real { f: SecurityFixture }

// docs/security.md: `free` guesses at once, then 1 s from the free-th failure on, doubling.
const delay = (failures: number, free: number): number =>
  failures < free ? 0 : Math.min(POLICY.baseDelayMs * 2 ** (failures - free), POLICY.maxDelayMs);

const keysOf = (address: string, device: string | null): [string, number][] =>
  [[`src:${address}|${device ?? ''}`, POLICY.freeFailures], [`ip:${address}`, POLICY.addressFreeFailures]];

const validGenerations = (m: Model): number[] =>
  [m.generation, ...(m.previous && m.previous.validUntil > m.now ? [m.previous.generation] : [])];

/** Applies one attempt to the model and says what the real system must answer. */
function expectAttempt(m: Model, address: string, device: string | null, value: string): { kind: 'token'; generation: number } | { kind: 'failed' } | { kind: 'throttled'; retryAfterSeconds: number } {
  const keys = keysOf(address, device);
  const wait = Math.max(0, ...keys.map(([k]) => {
    const c = m.counters.get(k);
    return c && c.blockedUntil > m.now ? Math.ceil((c.blockedUntil - m.now) / 1000) : 0;
  }));
  if (wait > 0) return { kind: 'throttled', retryAfterSeconds: wait };
  const generation = value === m.current ? m.generation
    : m.previous && m.previous.validUntil > m.now && value === m.previous.value ? m.previous.generation : null;
  if (generation !== null) {
    for (const [k] of keys) m.counters.delete(k);
    m.consecutive = 0;
    m.alert = false;
    return { kind: 'token', generation };
  }
  let escalated = false;
  for (const [k, free] of keys) {
    let c = m.counters.get(k) ?? { failures: 0, last: null, lastAt: 0, blockedUntil: 0 };
    if (c.lastAt > 0 && m.now - c.lastAt > POLICY.forgetAfterMs) c = { failures: 0, last: null, lastAt: 0, blockedUntil: 0 };
    if (c.failures > 0 && c.last === value) {
      c = { ...c, lastAt: m.now, blockedUntil: Math.max(c.blockedUntil, m.now + delay(c.failures, free)) };
    } else {
      escalated = true;
      const failures = c.failures + 1;
      c = { failures, last: value, lastAt: m.now, blockedUntil: m.now + delay(failures, free) };
    }
    m.counters.set(k, c);
  }
  if (escalated) {
    m.consecutive += 1;
    if (!m.alert && m.consecutive >= POLICY.globalAlertThreshold) { m.alert = true; m.alertsRaised += 1; }
  }
  return { kind: 'failed' };
}

async function checkAttempt(m: Model, r: Real, address: string, device: string | null, value: string): Promise<void> {
  const expected = expectAttempt(m, address, device, value);
  const got: Attempt = await r.f.attempt(value, { address, deviceId: device });
  if (expected.kind === 'token') {
    assert.equal(got.ok, true, `expected a token, got ${JSON.stringify(got)}`);
    if (got.ok) m.tokens = [...m.tokens.slice(-4), { token: got.token.token, generation: expected.generation, expiresAt: Date.parse(got.token.expiresAt) }];
  } else if (expected.kind === 'failed') {
    assert.deepEqual(got.ok ? 'token' : got.code, 'AUTH_FAILED');
    m.lastFailure = { address, device, value };
  } else {
    assert.deepEqual(got.ok ? 'token' : [got.code, got.retryAfterSeconds], ['AUTH_THROTTLED', expected.retryAfterSeconds]);
  }
  const { global } = await r.f.store.throttleState([]);
  assert.equal(global.consecutiveFailures, m.consecutive, 'global consecutive failures');
  assert.equal(global.alertSince > 0, m.alert, 'alert raised');
  assert.equal(r.f.alerts.length, m.alertsRaised, 'alerts reported');
}

const sourceArb = fc.record({ address: fc.constantFrom(...ADDRESSES), device: fc.constantFrom(...DEVICES) });

class Fail implements fc.AsyncCommand<Model, Real> {
  constructor(readonly address: string, readonly device: string | null, readonly value: string) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): Promise<void> { return checkAttempt(m, r, this.address, this.device, this.value); }
  toString(): string { return `fail(${this.address}/${this.device}, ${this.value})`; }
}

/** Several different wrong values in a row from one source (how throttling is reached). */
class Burst implements fc.AsyncCommand<Model, Real> {
  constructor(readonly address: string, readonly device: string | null, readonly count: number, readonly offset: number) {}
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    for (let i = 0; i < this.count; i++) await checkAttempt(m, r, this.address, this.device, WRONG[(this.offset + i) % WRONG.length] as string);
  }
  toString(): string { return `burst(${this.address}/${this.device}, ${this.count})`; }
}

/** The same wrong value again from the source that last failed (a technician retrying a typo). */
class Retry implements fc.AsyncCommand<Model, Real> {
  check(m: Readonly<Model>): boolean { return m.lastFailure !== null; }
  run(m: Model, r: Real): Promise<void> {
    const { address, device, value } = m.lastFailure as NonNullable<Model['lastFailure']>;
    return checkAttempt(m, r, address, device, value);
  }
  toString(): string { return 'retrySameValue'; }
}

class Succeed implements fc.AsyncCommand<Model, Real> {
  constructor(readonly address: string, readonly device: string | null) {}
  check(): boolean { return true; }
  run(m: Model, r: Real): Promise<void> { return checkAttempt(m, r, this.address, this.device, m.current); }
  toString(): string { return `succeed(${this.address}/${this.device})`; }
}

class TryOld implements fc.AsyncCommand<Model, Real> {
  constructor(readonly address: string, readonly device: string | null) {}
  check(m: Readonly<Model>): boolean { return m.superseded !== null; }
  run(m: Model, r: Real): Promise<void> { return checkAttempt(m, r, this.address, this.device, m.superseded as string); }
  toString(): string { return `tryOld(${this.address}/${this.device})`; }
}

class Wait implements fc.AsyncCommand<Model, Real> {
  constructor(readonly ms: number) {}
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> { m.now += this.ms; r.f.advance(this.ms); }
  toString(): string { return `wait(${this.ms})`; }
}

class Restart implements fc.AsyncCommand<Model, Real> {
  check(): boolean { return true; }
  async run(_m: Model, r: Real): Promise<void> { await r.f.restart(); }
  toString(): string { return 'restart'; }
}

class Rotate implements fc.AsyncCommand<Model, Real> {
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    const next = `Rotated-Passcode-${m.generation + 1}-Kestrel`;
    await r.f.setPasscode(next);
    m.previous = m.overlapMs > 0 ? { value: m.current, generation: m.generation, validUntil: m.now + m.overlapMs } : null;
    m.superseded = m.current;
    m.current = next;
    m.generation += 1;
  }
  toString(): string { return 'rotate'; }
}

class SetOverlap implements fc.AsyncCommand<Model, Real> {
  constructor(readonly seconds: number) {}
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    await r.f.admin.apply([{ kind: 'rotation', overlapSeconds: this.seconds }]);
    m.overlapMs = this.seconds * 1000;
    // A running overlap follows the new setting at once: 0 ends it, a shorter one shortens it (never lengthens).
    if (m.previous) {
      if (m.previous.validUntil <= m.now || this.seconds === 0) m.previous = null;
      else m.previous = { ...m.previous, validUntil: Math.min(m.previous.validUntil, m.now + m.overlapMs) };
    }
  }
  toString(): string { return `overlap(${this.seconds})`; }
}

/** Every token the model holds is accepted exactly when its generation is valid now and it has not expired. */
class CheckTokens implements fc.AsyncCommand<Model, Real> {
  check(m: Readonly<Model>): boolean { return m.tokens.length > 0; }
  async run(m: Model, r: Real): Promise<void> {
    for (const t of m.tokens) {
      if (m.now >= t.expiresAt && m.now < t.expiresAt + 5000) continue; // inside the verifier's clock tolerance
      const valid = m.now < t.expiresAt && validGenerations(m).includes(t.generation);
      const accepted = await r.f.login.authenticate(t.token, () => null).then(() => true, (err: { code?: string }) => {
        assert.equal(err.code, 'TOKEN_INVALID');
        return false;
      });
      assert.equal(accepted, valid, `token of generation ${t.generation} at +${(m.now - START) / 1000}s (valid generations ${validGenerations(m).join(',')})`);
    }
  }
  toString(): string { return 'checkTokens'; }
}

const commands = [
  fc.tuple(sourceArb, fc.constantFrom(...WRONG)).map(([s, v]) => new Fail(s.address, s.device, v)),
  fc.tuple(sourceArb, fc.integer({ min: 2, max: 8 }), fc.nat(3)).map(([s, n, o]) => new Burst(s.address, s.device, n, o)),
  fc.tuple(sourceArb, fc.integer({ min: 2, max: 8 }), fc.nat(3)).map(([s, n, o]) => new Burst(s.address, s.device, n, o)),
  sourceArb.map((s) => new Succeed(s.address, s.device)),
  sourceArb.map((s) => new Succeed(s.address, s.device)),
  sourceArb.map((s) => new TryOld(s.address, s.device)),
  sourceArb.map((s) => new TryOld(s.address, s.device)),
  fc.constantFrom(300, 1000, 1500, 2000, 4000, 9000, 30_000, 16 * 60_000, 50 * 60_000, 2 * 3600_000, 25 * 3600_000).map((ms) => new Wait(ms)),
  fc.constantFrom(300, 1000, 1500, 2000, 4000, 9000, 30_000, 16 * 60_000, 50 * 60_000, 2 * 3600_000, 25 * 3600_000).map((ms) => new Wait(ms)),
  fc.constant(new Retry()),
  fc.constant(new Retry()),
  fc.constant(new Restart()),
  fc.constant(new Rotate()),
  fc.constant(new Rotate()),
  fc.constantFrom(0, 1800, 3600).map((s) => new SetOverlap(s)),
  fc.constantFrom(0, 1800, 3600).map((s) => new SetOverlap(s)),
  fc.constant(new CheckTokens()),
  fc.constant(new CheckTokens()),
];

test('random sequences of fail / succeed / wait / restart / rotate match the model', async () => {
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: 60, size: 'large' }), async (cmds) => {
      const f = await securityFixture({ policy: POLICY, passcode: 'Initial-Passcode-1-Kestrel', start: START, inMemoryDisk: true });
      try {
        const model: Model = {
          now: START, counters: new Map(), consecutive: 0, alert: false, alertsRaised: 0, overlapMs: 0,
          generation: 1, current: 'Initial-Passcode-1-Kestrel', previous: null, superseded: null, tokens: [], lastFailure: null,
        };
        await fc.asyncModelRun(() => ({ model, real: { f } }), cmds);
        assert.equal((await f.store.verify()).ok, true, 'the audit chain is intact');
        assert.equal(await f.store.integrityCheck(), 'ok');
      } finally {
        await f.close();
      }
    }),
    { numRuns: 100 },
  );
});

test('the model itself: the delays it expects are the documented ones', () => {
  assert.deepEqual([2, 3, 4, 5, 6].map((n) => delay(n, 3)), [0, 1000, 2000, 4000, 8000]);
  assert.equal(delay(40, 3), POLICY.maxDelayMs);
});
