// Unit tests of sealing signing keys and of settling a KEK rotation interrupted between the database and the file (real SQLite file).

import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import { kekFromBytes, sealPrivateKey, unsealPrivateKey, type Kek } from './key-sealing.js';
import { prepareSigningKeys, rotateKek, type RotatableKekSource } from './signing-keys.js';

const JWK = { kty: 'OKP', crv: 'Ed25519', x: 'x', d: 'secret-part' };

test('a sealed key opens only with its KEK, as its own kid, unchanged; the envelope holds no key material', () => {
  const kek = kekFromBytes(randomBytes(32), 'kek');
  const sealed = sealPrivateKey(kek, 'kid-1', JWK);
  assert.doesNotMatch(sealed, /secret-part|"d"/);
  assert.deepEqual(unsealPrivateKey(kek, 'kid-1', sealed), JWK);
  assert.throws(() => unsealPrivateKey(kekFromBytes(randomBytes(32), 'other'), 'kid-1', sealed), /another key-encryption key/);
  assert.throws(() => unsealPrivateKey(kek, 'kid-2', sealed), { code: 'INTEGRITY' });
  const env = JSON.parse(sealed) as { ct: string };
  const flipped = Buffer.from(env.ct, 'base64url');
  flipped[0] = (flipped[0] as number) ^ 1;
  assert.throws(() => unsealPrivateKey(kek, 'kid-1', JSON.stringify({ ...env, ct: flipped.toString('base64url') })), { code: 'INTEGRITY' });
});

/** A KEK source in memory whose "files" a test can look at. */
function memorySource(): RotatableKekSource & { current: Kek | null; pending: Kek | null } {
  const s = {
    file: 'mem/signing-kek', current: null as Kek | null, pending: null as Kek | null,
    read: () => s.current,
    create: () => (s.current = kekFromBytes(randomBytes(32), 'mem/signing-kek')),
    readPending: () => s.pending,
    writePending: () => (s.pending = kekFromBytes(randomBytes(32), 'mem/signing-kek')),
    settlePending: (committed: boolean) => { if (committed) s.current = s.pending; s.pending = null; },
  };
  return s;
}

test('a KEK rotation stopped after the database changed is finished at the next start; one stopped before is dropped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-keys-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = openSqliteStore(join(dir, 'db.sqlite'), Buffer.alloc(32, 1));
  t.after(() => store.close());
  const src = memorySource();
  const first = await prepareSigningKeys(store, src);

  // Crash after the commit, before the file was replaced: the pending KEK is what the keys need.
  const committed = { ...src, settlePending: () => undefined };
  await rotateKek(store, committed, 'admin');
  assert.ok(src.pending && src.current === first);
  const settled = await prepareSigningKeys(store, src);
  assert.equal(settled.id, src.current?.id);
  assert.notEqual(settled.id, first.id);
  assert.equal(src.pending, null);

  // Crash before the commit: the pending KEK opens nothing and is dropped.
  src.writePending();
  const again = await prepareSigningKeys(store, src);
  assert.equal(again.id, settled.id);
  assert.equal(src.pending, null);
});
