// Brute force against the passcode login with the clock injected (never slept): throttling per source, no usable lockout, persistence, fail-closed audit.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { createArgon2Hasher, type PasscodeHasher } from '../src/auth/passcode-hasher.js';
import { DeployrError } from '../src/domain/errors.js';
import { DEFAULT_THROTTLE_POLICY } from '../src/domain/throttle.js';
import Database from 'better-sqlite3';
import { FAST_ARGON2, securityFixture, source, type Attempt, type SecurityFixture } from './helpers/security-fixture.js';

const RIGHT = 'Otter-Harbour-Lantern-7';

async function fixture(t: TestContext, options: Parameters<typeof securityFixture>[0] = {}): Promise<SecurityFixture> {
  const f = await securityFixture({ passcode: RIGHT, ...options });
  t.after(() => f.close());
  return f;
}

/** Distinct wrong values, so that every one counts. */
const wrong = (i: number): string => `wrong-guess-${i}`;

/** Makes `n` counted failures from a source, waiting out each delay in between (on the injected clock). */
async function fail(f: SecurityFixture, s: ReturnType<typeof source>, n: number, offset = 0): Promise<void> {
  for (let i = 0; i < n; i++) {
    const a = await f.attempt(wrong(offset + i), s);
    if (!a.ok && a.code === 'AUTH_THROTTLED') {
      f.advance((a.retryAfterSeconds as number) * 1000);
      i -= 1;
    }
  }
}

function refusedWith(a: Attempt, code: string): asserts a is Extract<Attempt, { ok: false }> {
  assert.equal(a.ok, false, `expected ${code}, got a token`);
  assert.equal(a.code, code);
}

test('wrong passcodes from one source: three free failures, then growing delays (1 s, 2 s, 4 s, …) with 429 and Retry-After', async (t) => {
  const f = await fixture(t);
  const s = source('10.0.0.5');
  // Exactly three guesses at once (docs/security.md): the third failure is answered 401 and starts the first delay.
  for (let i = 1; i <= 3; i++) refusedWith(await f.attempt(wrong(i), s), 'AUTH_FAILED');
  const throttled = await f.attempt(wrong(5), s);
  refusedWith(throttled, 'AUTH_THROTTLED');
  assert.equal(throttled.retryAfterSeconds, 1);
  const waits: number[] = [];
  for (let i = 6; i < 14; i++) {
    const before = await f.attempt(wrong(i), s);
    refusedWith(before, 'AUTH_THROTTLED');
    waits.push(before.retryAfterSeconds as number);
    f.advance((before.retryAfterSeconds as number) * 1000);
    refusedWith(await f.attempt(wrong(100 + i), s), 'AUTH_FAILED');
  }
  assert.deepEqual(waits, [1, 2, 4, 8, 16, 32, 64, 128]);
});

test('the delay is capped (15 min by default), never a lockout', async (t) => {
  const f = await fixture(t);
  const s = source('10.0.0.6');
  let last = 0;
  for (let i = 0; i < 31; i++) {
    const a = await f.attempt(wrong(i), s);
    if (!a.ok && a.code === 'AUTH_THROTTLED') {
      last = a.retryAfterSeconds as number;
      f.advance(last * 1000);
    }
  }
  assert.equal(last, DEFAULT_THROTTLE_POLICY.maxDelayMs / 1000);
  // After the wait the right passcode works: delays, not a lock.
  const waiting = await f.attempt(RIGHT, s);
  refusedWith(waiting, 'AUTH_THROTTLED');
  assert.equal(waiting.retryAfterSeconds, DEFAULT_THROTTLE_POLICY.maxDelayMs / 1000);
  f.advance(DEFAULT_THROTTLE_POLICY.maxDelayMs);
  assert.equal((await f.attempt(RIGHT, s)).ok, true);
});

test('the right passcode from a throttled source is refused exactly like a wrong one', async (t) => {
  const f = await fixture(t);
  const s = source('10.0.0.7');
  for (let i = 0; i < 5; i++) await f.attempt(wrong(i), s);
  const withWrong = await f.attempt(wrong(99), s);
  const withRight = await f.attempt(RIGHT, s);
  refusedWith(withWrong, 'AUTH_THROTTLED');
  assert.deepEqual(withRight, withWrong);
  // Once the wait is over, it works (and the source's counter resets).
  f.advance((withRight.retryAfterSeconds as number) * 1000);
  assert.equal((await f.attempt(RIGHT, s)).ok, true);
  for (let i = 0; i < 3; i++) refusedWith(await f.attempt(wrong(200 + i), s), 'AUTH_FAILED');
  refusedWith(await f.attempt(wrong(300), s), 'AUTH_THROTTLED');
});

test('attempts during the wait do not extend it', async (t) => {
  const f = await fixture(t);
  const s = source('10.0.0.8');
  await fail(f, s, 6);
  const first = await f.attempt(wrong(50), s);
  refusedWith(first, 'AUTH_THROTTLED');
  const total = first.retryAfterSeconds as number;
  assert.ok(total >= 2);
  for (let i = 0; i < 20; i++) {
    const a = await f.attempt(i % 2 ? RIGHT : wrong(60 + i), s);
    refusedWith(a, 'AUTH_THROTTLED');
    assert.ok((a.retryAfterSeconds as number) <= total);
  }
  f.advance(total * 1000);
  assert.equal((await f.attempt(RIGHT, s)).ok, true);
});

test('another source is unaffected; a device id sent from elsewhere cannot lock a machine out', async (t) => {
  const f = await fixture(t);
  const attacker = source('10.9.9.9', 'PC-0042');
  for (let i = 0; i < 12; i++) await f.attempt(wrong(i), attacker);
  refusedWith(await f.attempt(RIGHT, attacker), 'AUTH_THROTTLED');
  assert.equal((await f.attempt(RIGHT, source('10.0.0.20'))).ok, true, 'another address');
  assert.equal((await f.attempt(RIGHT, source('10.0.0.21', 'PC-0042'))).ok, true, 'the same device id from its own address');
});

test('device ids share their address budget: inventing device ids does not buy more guesses', async (t) => {
  const f = await fixture(t);
  const counted: string[] = [];
  for (let i = 0; i < DEFAULT_THROTTLE_POLICY.addressFreeFailures + 3; i++) {
    const a = await f.attempt(wrong(i), source('10.0.1.1', `fake-${i}`));
    counted.push(a.ok ? 'ok' : a.code);
  }
  // Exactly the address budget (10) of guesses, then the wait.
  assert.deepEqual(counted.slice(0, DEFAULT_THROTTLE_POLICY.addressFreeFailures), Array(DEFAULT_THROTTLE_POLICY.addressFreeFailures).fill('AUTH_FAILED'));
  assert.deepEqual(counted.slice(DEFAULT_THROTTLE_POLICY.addressFreeFailures), ['AUTH_THROTTLED', 'AUTH_THROTTLED', 'AUTH_THROTTLED']);
  // Machines behind the same address with their own device ids each keep their own small budget
  // until the address as a whole runs out; a typo on one does not block the others.
  const g = await fixture(t);
  for (let i = 0; i < 3; i++) refusedWith(await g.attempt(wrong(i), source('10.0.2.1', 'pc-a')), 'AUTH_FAILED');
  for (let i = 0; i < 3; i++) refusedWith(await g.attempt(wrong(10 + i), source('10.0.2.1', 'pc-b')), 'AUTH_FAILED');
  assert.equal((await g.attempt(RIGHT, source('10.0.2.1', 'pc-c'))).ok, true);
});

test('the same wrong value again does not escalate, locally or globally', async (t) => {
  const f = await fixture(t, { policy: { globalAlertThreshold: 5 } });
  const s = source('10.0.0.9', 'pc-typo');
  for (let i = 0; i < 25; i++) refusedWith(await f.attempt('Otter-Harbour-Lantern-8', s), 'AUTH_FAILED');
  const { records, global } = await f.store.throttleState(['src:10.0.0.9|pc-typo', 'ip:10.0.0.9']);
  assert.deepEqual([...records.values()].map((r) => r.failures), [1, 1]);
  assert.equal(global.consecutiveFailures, 1);
  assert.equal(f.alerts.length, 0);
  const rows = await f.store.list({ method: 'passcode', result: 'failure' });
  assert.equal(rows.length, 25, 'every attempt is audited');
  assert.equal(rows.filter((r) => r.detail.repeat === true).length, 24);
  // NFKC-equal values are the same value.
  refusedWith(await f.attempt('Ｏtter-Harbour-Lantern-8', s), 'AUTH_FAILED');
  assert.equal((await f.store.throttleState(['ip:10.0.0.9'])).records.get('ip:10.0.0.9')?.failures, 1);
});

test('a success resets that source, and only that source', async (t) => {
  const f = await fixture(t);
  const a = source('10.0.3.1');
  const b = source('10.0.3.2');
  for (let i = 0; i < 2; i++) await f.attempt(wrong(i), a);
  for (let i = 0; i < 3; i++) await f.attempt(wrong(i), b);
  assert.equal((await f.attempt(RIGHT, a)).ok, true);
  for (let i = 0; i < 3; i++) refusedWith(await f.attempt(wrong(10 + i), a), 'AUTH_FAILED');
  refusedWith(await f.attempt(RIGHT, b), 'AUTH_THROTTLED');
});

test('consecutive failures across sources raise the alert (audit row, callback) and slow every check instead of locking', async (t) => {
  const f = await fixture(t, { policy: { globalAlertThreshold: 6, globalSlowdownMs: 250 } });
  for (let i = 0; i < 6; i++) await f.attempt(wrong(i), source(`10.1.0.${i}`));
  assert.deepEqual(f.alerts, [6]);
  const raised = await f.store.list({ kind: 'alert' });
  assert.deepEqual(raised.map((r) => [r.result, r.reason]), [['raised', 'global_failure_threshold']]);
  assert.equal((await f.store.throttleState([])).global.alertSince, f.clock.now);
  // Every check now waits first; the right passcode still works from a clean source (no lockout).
  f.sleeps.length = 0;
  assert.equal((await f.attempt(RIGHT, source('10.1.1.1'))).ok, true);
  // One wait before the check, one while holding the argon2 turn (fewer guesses per second overall).
  assert.deepEqual(f.sleeps, [250, 250]);
  // The success clears the alert, with its own audit row; checks are no longer slowed.
  const cleared = await f.store.list({ kind: 'alert' });
  assert.deepEqual(cleared.map((r) => r.result), ['raised', 'cleared']);
  f.sleeps.length = 0;
  await f.attempt(RIGHT, source('10.1.1.2'));
  assert.deepEqual(f.sleeps, []);
});

test('a restart keeps the throttle and the global count (they live in the store)', async (t) => {
  const f = await fixture(t, { policy: { globalAlertThreshold: 8 } });
  const s = source('10.0.4.4');
  await fail(f, s, 6);
  const before = await f.attempt(RIGHT, s);
  refusedWith(before, 'AUTH_THROTTLED');
  await f.restart();
  assert.deepEqual(await f.attempt(RIGHT, s), before);
  assert.equal((await f.store.throttleState([])).global.consecutiveFailures, 6);
  f.advance((before.retryAfterSeconds as number) * 1000);
  assert.equal((await f.attempt(RIGHT, s)).ok, true);
});

test('refused attempts of a throttled source: one audit row per wait, the rest counted on the next row', async (t) => {
  const f = await fixture(t);
  const s = source('10.0.5.5');
  for (let i = 0; i < 3; i++) await f.attempt(wrong(i), s);
  const start = (await f.store.list({})).length;
  for (let i = 0; i < 50; i++) refusedWith(await f.attempt(wrong(100 + i), s), 'AUTH_THROTTLED');
  const during = (await f.store.list({})).slice(start);
  assert.deepEqual(during.map((r) => r.reason), ['throttled']);
  f.advance(1000);
  refusedWith(await f.attempt(wrong(999), s), 'AUTH_FAILED');
  const next = (await f.store.list({})).at(-1)!;
  assert.equal(next.reason, 'wrong_passcode');
  assert.equal(next.detail.throttledNotLogged, 49);
});

test('a login fails, with no token, when its audit row cannot be written; the counters roll back with it', async (t) => {
  const f = await fixture(t);
  const s = source('10.0.6.6');
  for (let i = 0; i < 2; i++) await f.attempt(wrong(i), s);
  // A real SQLite failure inside the login's transaction (as a full disk or I/O error would be).
  const db = new Database(f.file);
  db.exec(`CREATE TRIGGER audit_refuses_success BEFORE INSERT ON audit WHEN NEW.result = 'success' BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END;`);
  const refused = await f.attempt(RIGHT, s);
  refusedWith(refused, 'UNAVAILABLE');
  assert.doesNotMatch(refused.message, /simulated|RIGHT|Otter/);
  const ip = (await f.store.throttleState(['ip:10.0.6.6'])).records.get('ip:10.0.6.6');
  assert.equal(ip?.failures, 2, 'the reset rolled back with the audit row');
  assert.equal((await f.store.list({ result: 'success' })).length, 0);
  // Failures cannot be counted without their row either.
  db.exec(`DROP TRIGGER audit_refuses_success; CREATE TRIGGER audit_refuses_all BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END;`);
  refusedWith(await f.attempt(wrong(7), s), 'UNAVAILABLE');
  db.exec('DROP TRIGGER audit_refuses_all');
  db.close();
  assert.equal((await f.attempt(RIGHT, s)).ok, true);
  assert.equal((await f.store.verify()).ok, true);
});

test('a store that throws on the success write: the token is never handed out', async (t) => {
  const f = await fixture(t);
  const attempted: unknown[] = [];
  f.store.recordSuccess = async (input) => { attempted.push(input.event.detail.tokenId); throw new Error('disk full'); };
  const a = await f.attempt(RIGHT, source('10.0.7.7'));
  refusedWith(a, 'UNAVAILABLE');
  assert.equal(attempted.length, 1, 'a token was made, but its audit row failed, so it was not handed out');
});

test('argon2 work is bounded: a full queue is refused with AUTH_THROTTLED instead of waiting without end', async () => {
  const hasher = createArgon2Hasher({ maxConcurrent: 1, maxWaiting: 2 });
  const hash = await hasher.hash(RIGHT);
  const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => hasher.verify(hash, i === 0 ? RIGHT : wrong(i))));
  assert.deepEqual(results.slice(0, 3).map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled']);
  for (const r of results.slice(3)) {
    assert.equal(r.status, 'rejected');
    assert.equal((r as PromiseRejectedResult).reason.code, 'AUTH_THROTTLED');
  }
  assert.equal((results[0] as PromiseFulfilledResult<boolean>).value, true);
});

test('a full argon2 queue answers 429 to the right and the wrong passcode alike', async (t) => {
  const real = createArgon2Hasher({ params: FAST_ARGON2 });
  const state = { busy: false };
  const hasher: PasscodeHasher = {
    hash: (p) => real.hash(p),
    verify: async (h, c, o) => {
      if (state.busy) throw new DeployrError('AUTH_THROTTLED', 'Too many passcode checks at once; wait before trying again.', { retryAfterSeconds: 1 });
      return real.verify(h, c, o);
    },
    verifyDummy: (c, o) => real.verifyDummy(c, o),
  };
  const f = await fixture(t, { hasher });
  state.busy = true;
  const r = await f.attempt(RIGHT, source('10.0.8.1'));
  const w = await f.attempt(wrong(1), source('10.0.8.1'));
  refusedWith(r, 'AUTH_THROTTLED');
  assert.equal(r.retryAfterSeconds, 1);
  assert.deepEqual(w, r);
  assert.deepEqual((await f.store.list({ method: 'passcode' })).map((e) => e.reason), ['busy'], 'one row per source and wait');
  state.busy = false;
  f.advance(1000);
  assert.equal((await f.attempt(RIGHT, source('10.0.8.1'))).ok, true, 'busy refusals are not counted as failures');
});

test('the argon2 checks of passcode logins, right and wrong, wait in the lane of their source address (fair turns)', async (t) => {
  const real = createArgon2Hasher({ params: FAST_ARGON2 });
  const lanes: (string | undefined)[] = [];
  const recording: PasscodeHasher = {
    hash: (p) => real.hash(p),
    verify: (h, c, o) => { lanes.push(o?.lane); return real.verify(h, c, o); },
    verifyDummy: (c, o) => { lanes.push(o?.lane); return real.verifyDummy(c, o); },
  };
  const f = await fixture(t, { hasher: recording });
  lanes.length = 0;
  refusedWith(await f.attempt(wrong(1), source('10.3.0.1')), 'AUTH_FAILED');
  assert.equal((await f.attempt(RIGHT, source('10.3.0.2', 'PC-7'))).ok, true);
  assert.deepEqual(lanes, ['10.3.0.1', '10.3.0.2']);
});

test('the verified-passcode cache: one argon2 check for a storm of identical right passcodes, still one per wrong guess, dropped on rotation', async (t) => {
  const real = createArgon2Hasher({ params: FAST_ARGON2 });
  const calls = { verify: 0 };
  const counting: PasscodeHasher = { ...real, verify: (h, c, o) => { calls.verify += 1; return real.verify(h, c, o); } };
  const f = await fixture(t, { hasher: counting });
  calls.verify = 0;
  const storm = await Promise.all(Array.from({ length: 40 }, (_, i) => f.attempt(RIGHT, source(`10.2.0.${i}`))));
  assert.ok(storm.every((a) => a.ok));
  assert.equal(calls.verify, 1);
  for (let i = 0; i < 3; i++) await f.attempt(wrong(i), source('10.2.1.1'));
  assert.equal(calls.verify, 4, 'every wrong guess costs an argon2 check');
  await f.setPasscode('Badger-Quarry-Compass-9');
  refusedWith(await f.attempt(RIGHT, source('10.2.2.2')), 'AUTH_FAILED');
  assert.equal((await f.attempt('Badger-Quarry-Compass-9', source('10.2.2.3'))).ok, true);
});

test('guesses sent all at once cannot outrun the counters: checks in flight count against the budget', async (t) => {
  const real = createArgon2Hasher({ params: FAST_ARGON2 });
  const calls = { verify: 0 };
  const counting: PasscodeHasher = { ...real, verify: (h, c, o) => { calls.verify += 1; return real.verify(h, c, o); } };
  const f = await fixture(t, { hasher: counting });
  // 60 different wrong values at once from one source: as many checks as one after the other would get (3).
  const burst = await Promise.all(Array.from({ length: 60 }, (_, i) => f.attempt(wrong(i), source('10.4.0.1'))));
  assert.equal(calls.verify, 3);
  assert.equal(burst.filter((a) => !a.ok && a.code === 'AUTH_FAILED').length, 3);
  assert.ok(burst.filter((a) => !a.ok && a.code === 'AUTH_THROTTLED').every((a) => !a.ok && a.retryAfterSeconds === 1));
  // Inventing device ids: bounded by the address (10).
  calls.verify = 0;
  await Promise.all(Array.from({ length: 60 }, (_, i) => f.attempt(wrong(100 + i), source('10.4.0.2', `fake-${i}`))));
  assert.equal(calls.verify, 10);
  // After a delay has run out, one check at a time.
  await fail(f, source('10.4.0.3'), 5);
  const w = await f.attempt(wrong(500), source('10.4.0.3'));
  refusedWith(w, 'AUTH_THROTTLED');
  f.advance((w.retryAfterSeconds as number) * 1000);
  calls.verify = 0;
  await Promise.all(Array.from({ length: 20 }, (_, i) => f.attempt(wrong(600 + i), source('10.4.0.3'))));
  assert.equal(calls.verify, 1);
  // The same value many times at once is one value: a boot storm behind one address all gets in.
  const storm = await Promise.all(Array.from({ length: 50 }, (_, i) => f.attempt(RIGHT, source('10.4.0.9', `pc-${i}`))));
  assert.ok(storm.every((a) => a.ok));
});

test('a slow check (a long argon2 queue in a guess storm) still makes the source wait: the delay runs from when the failure is written, not from when the attempt arrived', async (t) => {
  // Found by the soak's storm phase: with checks queued for seconds, the 1 s delay had already run out when the third 401 was sent.
  let advanceClock: (ms: number) => void = () => undefined;
  const argon2 = createArgon2Hasher({ params: FAST_ARGON2 });
  const slow: PasscodeHasher = {
    hash: (p) => argon2.hash(p),
    verify: async (h, c, o) => { const r = await argon2.verify(h, c, o); advanceClock(3000); return r; },
    verifyDummy: async (c, o) => { const r = await argon2.verifyDummy(c, o); advanceClock(3000); return r; },
  };
  const f = await fixture(t, { hasher: slow });
  advanceClock = (ms) => f.advance(ms);
  const s = source('10.0.0.99');
  for (let i = 1; i <= 3; i++) refusedWith(await f.attempt(wrong(i), s), 'AUTH_FAILED');
  const fourth = await f.attempt(wrong(4), s);
  refusedWith(fourth, 'AUTH_THROTTLED');
  assert.equal(fourth.retryAfterSeconds, 1);
});
