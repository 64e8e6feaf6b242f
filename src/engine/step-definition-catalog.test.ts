// Unit tests of the step definition catalog on the SQLite store: import (audited), list, get, the version a step runs, activate.

import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isDeployrError } from '../domain/errors.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import { StepDefinitionCatalog } from './step-definition-catalog.js';

const EXPORTS = new URL('../../../test/fixtures/deployr-exports/', import.meta.url);
const LOCKSCREEN = 'be7ccba3-e775-4f83-84c9-4c90dac3b32b';
const READINESS = '7e12116e-6c80-4e28-abef-1b9219b8a3e0';

test('import audits and replaces, list gives overviews by name, get and the version a step runs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-stepdefs-'));
  const store = openSqliteStore(join(dir, 'db.sqlite'), Buffer.alloc(32, 1));
  t.after(async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); });
  const catalog = new StepDefinitionCatalog(store);
  const files = readdirSync(EXPORTS).filter((f) => /step-definition-.*\.json$/.test(f));
  for (const f of files) await catalog.importExport(JSON.parse(readFileSync(new URL(f, EXPORTS), 'utf8')), { subject: 'admin', source: null });
  await catalog.importExport(JSON.parse(readFileSync(new URL('step-definition-be7ccba3-lockscreen.json', EXPORTS), 'utf8')), { subject: 'admin', source: '127.0.0.1' });

  const list = await catalog.list();
  assert.equal(list.length, 6);
  assert.deepEqual(list.map((o) => o.name), [...list.map((o) => o.name)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  assert.deepEqual(list.find((o) => o.id === LOCKSCREEN), {
    id: LOCKSCREEN, name: 'Customize - Configure Lockscreen Image from Content Item', description: 'This will replace the default lock screen image with one you specify',
    typeName: 'Windows Customization', versions: [{ versionNo: 1, status: 'Active', options: 5 }],
  });

  const audit = await store.list({ kind: 'step-definition' });
  assert.deepEqual(audit.map((e) => e.result), [...files.map(() => 'created'), 'replaced']);
  assert.equal(audit.at(-1)?.source, '127.0.0.1');

  assert.equal((await catalog.get(LOCKSCREEN.toUpperCase())).id, LOCKSCREEN);
  await assert.rejects(catalog.get('00000000-0000-0000-0000-0000000000ff'), (e) => isDeployrError(e, 'NOT_FOUND') && /deployr step import/.test(e.message));

  const { definition, version } = await catalog.versionForStep({ typeId: LOCKSCREEN, stepDefinitionVersionNo: null });
  assert.equal(definition.id, LOCKSCREEN);
  assert.equal(version.versionNo, 1);
  await assert.rejects(catalog.versionForStep({ typeId: READINESS, stepDefinitionVersionNo: 1 }), (e) => isDeployrError(e, 'CONFLICT') && /In_Development, not Active/.test(e.message));
  await assert.rejects(catalog.versionForStep({ typeId: LOCKSCREEN, stepDefinitionVersionNo: 2 }), (e) => isDeployrError(e, 'NOT_FOUND'));

  assert.equal((await catalog.activate(READINESS, 1, { subject: 'admin', source: null })).changed, true);
  assert.equal((await catalog.activate(READINESS, 1, { subject: 'admin', source: null })).changed, false);
  assert.equal((await catalog.versionForStep({ typeId: READINESS, stepDefinitionVersionNo: 1 })).version.status, 'Active');
  assert.equal((await store.list({ kind: 'step-definition', method: 'activate' })).length, 1);
});
