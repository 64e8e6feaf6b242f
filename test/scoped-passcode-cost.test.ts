// The login cost with scoped passcodes: the same number of argon2 checks whichever passcode (or none) matches, and the bound on typed ones (real SQLite store and login service).
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { createArgon2Hasher, type PasscodeHasher } from '../src/auth/passcode-hasher.js';
import { ScopedPasscodes } from '../src/auth/scoped-passcodes.js';
import { isDeployrError } from '../src/domain/errors.js';
import { MAX_ACTIVE_TYPED_SCOPED_PASSCODES } from '../src/domain/scoped-passcode.js';
import { FAST_ARGON2, securityFixture, source } from './helpers/security-fixture.js';

const GLOBAL = 'Global-Passcode-Cost-Heather-31';
const ACTOR = { subject: 'admin', source: null };

test('every passcode login makes the same argon2 checks, whichever passcode matches or none', async () => {
  const inner = createArgon2Hasher({ params: FAST_ARGON2 });
  let checks = 0;
  const hasher: PasscodeHasher = {
    hash: (p) => inner.hash(p),
    verify: async (h, c, o) => { checks += 1; return inner.verify(h, c, o); },
    verifyDummy: async (c, o) => { checks += 1; return inner.verifyDummy(c, o); },
  };
  const f = await securityFixture({ passcode: GLOBAL, hasher, policy: { freeFailures: 1000, addressFreeFailures: 1000, globalAlertThreshold: 1000 } });
  try {
    const passcodes = new ScopedPasscodes(f.store, hasher, () => new Date(f.clock.now));
    const typed = ['Typed-Cost-One-Lupin-11', 'Typed-Cost-Two-Lupin-22', 'Typed-Cost-Three-Lupin-33'];
    for (const [i, p] of typed.entries()) await passcodes.add({ name: `typed-${i}`, passcode: p }, ACTOR);
    const generated: string[] = [];
    for (const i of [0, 1]) generated.push((await passcodes.add({ name: `gen-${i}`, generate: true }, ACTOR)).generated!);
    const otherPrefix = `${generated[0]!.slice(0, 4)}-2222-2222-2222-2222-2222`;
    const noPrefix = 'ZZZZ-2222-2222-2222-2222-2222';
    const candidates: [string, boolean][] = [
      ['Wrong-Passcode-Cost-1', false], [GLOBAL, true], [typed[0]!, true], [typed[2]!, true],
      [generated[0]!, true], [generated[1]!.toLowerCase().replace(/-/g, ''), true], [otherPrefix, false], [noPrefix, false],
    ];
    const counts: number[] = [];
    for (const [i, [candidate, right]] of candidates.entries()) {
      checks = 0;
      const ok = await f.login.loginWithPasscode({ passcode: candidate, context: 'boot', taskSequence: null, source: source(`10.0.0.${i + 1}`) }).then(() => true, (err: unknown) => { assert.ok(isDeployrError(err, 'AUTH_FAILED')); return false; });
      assert.equal(ok, right, `candidate ${i}`);
      counts.push(checks);
    }
    // The global passcode, three typed ones, one generated slot.
    assert.deepEqual(counts, candidates.map(() => 1 + typed.length + 1));
  } finally {
    await f.close();
  }
});

test(`at most ${MAX_ACTIVE_TYPED_SCOPED_PASSCODES} typed scoped passcodes live at once; generated ones have no such bound; a revoked one frees its place`, async () => {
  const f = await securityFixture({ passcode: GLOBAL });
  try {
    const passcodes = new ScopedPasscodes(f.store, f.hasher, () => new Date(f.clock.now));
    for (let i = 0; i < MAX_ACTIVE_TYPED_SCOPED_PASSCODES; i++) await passcodes.add({ name: `t${i}`, passcode: `Typed-Bound-Passcode-${i}-Aster`, maxUses: 1 }, ACTOR);
    await assert.rejects(passcodes.add({ name: 'one-more', passcode: 'Typed-Bound-Passcode-X-Aster' }, ACTOR), (err: unknown) => isDeployrError(err, 'CONFLICT'));
    await passcodes.add({ name: 'generated', generate: true }, ACTOR);
    await passcodes.revoke('t0', ACTOR);
    await passcodes.add({ name: 'one-more', passcode: 'Typed-Bound-Passcode-X-Aster' }, ACTOR);
    const list = await passcodes.list();
    assert.equal(list.filter((p) => p.kind === 'typed' && p.state !== 'revoked').length, MAX_ACTIVE_TYPED_SCOPED_PASSCODES);
    assert.ok(list.every((p) => !('hash' in p)), 'no hash in the views');
  } finally {
    await f.close();
  }
});

test('scoped passcodes alone (no global passcode) turn the passcode method on, until revoked', async () => {
  const f = await securityFixture({});
  try {
    const passcodes = new ScopedPasscodes(f.store, f.hasher, () => new Date(f.clock.now));
    assert.deepEqual(f.login.describeMethods(), { methods: [], configured: false });
    const { generated } = await passcodes.add({ name: 'only-one', generate: true, expiresInSeconds: 60 }, ACTOR);
    await f.store.getSecurityRevision();
    const ok = await f.login.loginWithPasscode({ passcode: generated!, context: 'boot', taskSequence: null, source: source('10.0.0.1') });
    assert.ok(ok.token);
    assert.deepEqual(f.login.describeMethods().methods, [{ method: 'passcode', contexts: ['boot', 'fullos'] }]);
    // Expired (the clock moves): the method is off again, and the token stops.
    f.advance(61_000);
    assert.deepEqual(f.login.describeMethods(), { methods: [], configured: false });
    await assert.rejects(f.login.authenticate(ok.token, () => null, () => '10.0.0.1'), (err: unknown) => isDeployrError(err, 'TOKEN_INVALID'));
  } finally {
    await f.close();
  }
});
