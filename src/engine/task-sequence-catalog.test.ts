// Unit tests of the task sequence catalog: what a token limited to one task sequence may read.

import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Principal } from '../domain/principal.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import { TaskSequenceCatalog } from './task-sequence-catalog.js';

const EXPORTS = new URL('../../../test/fixtures/deployr-exports/', import.meta.url);
const BARE_METAL = '8770d276-96ee-4c2b-b8c4-38d4ad54670c';
const OS_CONFIGURATION = 'b09560a1-ae6d-48c2-b3d1-5177ee89a53f';
const APP_INSTALLS = '0b226848-2b30-4863-ab1c-c8bbd66e1c42';

const limitedTo = (id: string): Principal => ({
  method: 'passcode', subject: 'passcode', context: 'fullos', taskSequenceLimit: `${id}:1`, certificateThumbprint: null, tokenId: 't', expiresAt: 0,
});

test('a limited token lists only its task sequence, and may read the modules it runs, nothing else', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-catalog-'));
  const store = openSqliteStore(join(dir, 'db.sqlite'), Buffer.alloc(32, 1));
  t.after(async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); });
  const catalog = new TaskSequenceCatalog(store);
  for (const f of ['task-sequence-8770d276-bare-metal-from-cloud.json', 'task-sequence-b09560a1-os-configuration.json', 'task-sequence-0b226848-app-installs.json']) {
    await catalog.importExport(JSON.parse(readFileSync(new URL(f, EXPORTS), 'utf8')), { subject: 'admin', source: null });
  }
  const principal = limitedTo(BARE_METAL);
  assert.deepEqual((await catalog.list(principal)).map((o) => o.id), [BARE_METAL]);
  assert.equal((await catalog.get(OS_CONFIGURATION, principal)).id, OS_CONFIGURATION, 'the "Module - Configure OS" step runs it');
  await assert.rejects(catalog.get(APP_INSTALLS, principal), /No task sequence/);
  await assert.rejects(catalog.get(BARE_METAL, limitedTo(OS_CONFIGURATION)), /No task sequence/, 'a module does not open its parent');
  assert.equal((await catalog.list(null)).length, 3);
});
