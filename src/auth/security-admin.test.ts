// Unit tests of security settings changes against a real SQLite store: atomicity, generations, overlap, audit.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import { createArgon2Hasher } from './passcode-hasher.js';
import { SecurityAdmin } from './security-admin.js';

const FAST = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

function fixture(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-admin-'));
  const store = openSqliteStore(join(dir, 'db.sqlite'), Buffer.alloc(32, 7));
  t.after(() => { void store.close(); rmSync(dir, { recursive: true, force: true }); });
  const hasher = createArgon2Hasher({ params: FAST });
  return { store, hasher, admin: new SecurityAdmin(store, hasher) };
}

test('setting a passcode stores only an argon2id hash, bumps the generation and audits the change', async (t) => {
  const { store, hasher, admin } = fixture(t);
  await admin.apply([{ kind: 'passcode', passcode: 'Otter-Harbour-Lantern' }]);
  const { settings, revision } = await store.getSecurity();
  assert.equal(revision, 1);
  assert.match(settings.passcode!.hash, /^\$argon2id\$/);
  assert.ok(!JSON.stringify(settings).includes('Otter-Harbour-Lantern'));
  assert.equal(settings.passcode!.generation, 1);
  assert.ok(await hasher.verify(settings.passcode!.hash, 'Otter-Harbour-Lantern'));
  await admin.apply([{ kind: 'passcode', passcode: 'Badger-Quarry-Compass' }]);
  const after = await store.getSecurity();
  assert.equal(after.settings.passcode!.generation, 2);
  assert.equal(after.settings.previousPasscode, null, 'no overlap by default');
  const audit = await store.list({ kind: 'settings' });
  assert.deepEqual(audit.map((e) => e.reason), ['passcode_set', 'passcode_changed']);
});

test('an overlap window keeps the previous passcode valid until it ends', async (t) => {
  const { store, admin } = fixture(t);
  await admin.apply([{ kind: 'rotation', overlapSeconds: 7200 }, { kind: 'passcode', passcode: 'Otter-Harbour-Lantern' }]);
  await admin.apply([{ kind: 'passcode', passcode: 'Badger-Quarry-Compass' }]);
  const { settings } = await store.getSecurity();
  assert.equal(settings.previousPasscode?.generation, 1);
  const left = Date.parse(settings.previousPasscode!.validUntil) - Date.now();
  assert.ok(left > 7000_000 && left <= 7200_000);
});

test('a batch with one bad change saves nothing', async (t) => {
  const { store, admin } = fixture(t);
  await assert.rejects(admin.apply([{ kind: 'bypass', enabled: true }, { kind: 'passcode', passcode: 'short' }]), /too short/);
  await assert.rejects(admin.apply([{ kind: 'entra', entra: { tenantId: 'x y', clientId: 'abc', role: 'r' } }]), /The Entra ID tenant must be the tenant id/);
  assert.equal((await store.getSecurity()).revision, 0);
  assert.equal((await store.list({})).length, 0);
});

test('a save based on an old revision is refused: nothing is lost', async (t) => {
  const { store, admin } = fixture(t);
  await admin.apply([{ kind: 'bypass', enabled: true }]);
  const { settings } = await store.getSecurity();
  await assert.rejects(store.saveSecurity({ ...settings, bypass: false }, 0, []), /changed by someone else/);
  assert.equal((await store.getSecurity()).settings.bypass, true);
});

test('--overlap 0 ends a running overlap, a shorter overlap shortens it, end-overlap ends it; each audited', async (t) => {
  const { store, hasher } = fixture(t);
  let clock = Date.parse('2026-01-01T10:00:00.000Z');
  const admin = new SecurityAdmin(store, hasher, () => new Date(clock));
  const rotate = async (passcode: string): Promise<void> => { await admin.apply([{ kind: 'passcode', passcode }]); };
  await admin.apply([{ kind: 'rotation', overlapSeconds: 7200 }, { kind: 'passcode', passcode: 'Otter-Harbour-Lantern' }]);
  await rotate('Badger-Quarry-Compass');
  assert.equal((await store.getSecurity()).settings.previousPasscode?.validUntil, '2026-01-01T12:00:00.000Z');
  clock += 60_000;
  await admin.apply([{ kind: 'rotation', overlapSeconds: 600 }]);
  assert.equal((await store.getSecurity()).settings.previousPasscode?.validUntil, '2026-01-01T10:11:00.000Z', 'shortened to 10 minutes from now');
  await admin.apply([{ kind: 'rotation', overlapSeconds: 3600 }]);
  assert.equal((await store.getSecurity()).settings.previousPasscode?.validUntil, '2026-01-01T10:11:00.000Z', 'a longer setting never extends it');
  await admin.apply([{ kind: 'rotation', overlapSeconds: 0 }]);
  assert.equal((await store.getSecurity()).settings.previousPasscode, null, 'overlap 0 ends it');

  await admin.apply([{ kind: 'rotation', overlapSeconds: 7200 }]);
  clock += 60_000;
  await rotate('Falcon-Cobalt-Ridge');
  assert.equal((await store.getSecurity()).settings.previousPasscode?.generation, 2);
  const ended = await admin.apply([{ kind: 'end-overlap' }]);
  assert.equal(ended.changed, true);
  assert.equal(ended.settings.previousPasscode, null);
  assert.equal(ended.settings.rotationOverlapSeconds, 7200, 'the setting for the next change stays');
  const nothing = await admin.apply([{ kind: 'end-overlap' }]);
  assert.equal(nothing.changed, false);
  assert.deepEqual(nothing.warnings, ['No rotation overlap is running: no previous passcode is accepted.', 'Nothing changed.']);
  const reasons = (await store.list({ kind: 'settings' })).map((e) => `${e.reason}${e.detail.by ? `/${e.detail.by as string}` : ''}`);
  assert.deepEqual(reasons.filter((r) => r.startsWith('overlap_')), ['overlap_shortened', 'overlap_ended/overlap', 'overlap_ended/end-overlap']);
});

test('a passcode set after the passcode was removed starts a new generation, so tokens of the removed one never work again', async (t) => {
  const { store, admin } = fixture(t);
  await admin.apply([{ kind: 'passcode', passcode: 'Otter-Harbour-Lantern' }]);
  await admin.apply([{ kind: 'clear-passcode' }]);
  await admin.apply([{ kind: 'passcode', passcode: 'Badger-Quarry-Compass' }]);
  assert.equal((await store.getSecurity()).settings.passcode?.generation, 2);
});
