// Unit tests of the content library against the real SQLite store and file-system blob store: concurrent changes.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createFsBlobStore } from '../store/fs-blob-store.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import { ContentCatalog } from './content-catalog.js';
import { ContentLibrary } from './content-library.js';

test('two versions added at the same time get distinct numbers; neither is lost', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-library-'));
  const store = openSqliteStore(join(dir, 'db.sqlite'), Buffer.alloc(32, 3));
  t.after(async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); });
  const actor = { subject: 'admin', source: 'local' };
  const item = await new ContentCatalog(store).create({ name: 'Tool', purpose: 'Application', type: 'SingleFile' }, actor);
  // Slow reads: both commands read the item before either saves, as two processes can.
  const slowReads = Object.assign(Object.create(store) as typeof store, {
    getContentItem: async (id: string) => { const r = await store.getContentItem(id); await new Promise((res) => setTimeout(res, 40)); return r; },
  });
  const library = new ContentLibrary(slowReads, createFsBlobStore(join(dir, 'content')));
  const a = join(dir, 'a.bin');
  const b = join(dir, 'b.bin');
  writeFileSync(a, 'first build');
  writeFileSync(b, 'second build');
  const [va, vb] = await Promise.all([library.addVersion(item.id, a, {}, actor), library.addVersion(item.id, b, {}, actor)]);
  assert.deepEqual([va.versionNo, vb.versionNo].sort(), [1, 2]);
  const saved = await store.getContentItem(item.id);
  assert.deepEqual(saved?.versions.map((v) => v.versionNo).sort(), [1, 2]);
  assert.equal(new Set(saved?.versions.map((v) => v.files[0]?.sha256)).size, 2);
  const audit = await store.list({ kind: 'content' });
  assert.equal(audit.filter((e) => e.method === 'add-version').length, 2, 'one audit row per saved version, none for the retried attempt');
});

test('a save based on a stale read is refused and changes nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-library-'));
  const store = openSqliteStore(join(dir, 'db.sqlite'), Buffer.alloc(32, 3));
  t.after(async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); });
  const item = await new ContentCatalog(store).create({ name: 'Tool', purpose: 'Other', type: 'Folder' }, { subject: 'admin', source: null });
  const renamed = { ...item, name: 'Renamed' };
  const event = { kind: 'content' as const, method: 'rename', result: 'changed', reason: 'ok', subject: 'admin', source: null, device: null, detail: {} };
  await store.putContentItem(renamed, event, item);
  await assert.rejects(store.putContentItem({ ...item, name: 'Lost update' }, event, item), /changed by someone else/);
  assert.equal((await store.getContentItem(item.id))?.name, 'Renamed');
});
