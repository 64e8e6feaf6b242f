// The PostgreSQL migrations mirror the SQLite ones: same versions and names, in the same order.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { MIGRATIONS as SQLITE } from '../sqlite/migrations.js';
import { MIGRATIONS as POSTGRES, SCHEMA_VERSION } from './migrations.js';
import { SCHEMA_VERSION as SQLITE_VERSION } from '../sqlite/migrations.js';

test('the PostgreSQL migrations have the versions and names of the SQLite ones', () => {
  assert.deepEqual(POSTGRES.map((m) => [m.version, m.name]), SQLITE.map((m) => [m.version, m.name]));
  assert.equal(SCHEMA_VERSION, SQLITE_VERSION);
});
