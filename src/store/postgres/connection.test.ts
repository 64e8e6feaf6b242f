// The pg settings from a parsed URL (schema on the search path, pool size), UNAVAILABLE messages without the password, lock keys and channels per schema.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { parsePostgresUrl } from '../../domain/postgres-url.js';
import { changeChannel, clientConfig, createPool, lockKey, unavailable } from './connection.js';

test('the schema is taken out of the URL and put on the search path; other parameters stay', () => {
  const t = parsePostgresUrl('postgresql://deployr:pw@db.example:6543/deploy?sslmode=require&schema=site_a');
  assert.equal(t.schema, 'site_a');
  assert.equal(t.where, 'db.example:6543/deploy');
  assert.equal(t.connectionString, 'postgresql://deployr:pw@db.example:6543/deploy?sslmode=require');
  assert.equal(clientConfig(t).options, '-c search_path=site_a');
  const plain = parsePostgresUrl('postgres://deployr@localhost/deploy');
  assert.equal(plain.schema, null);
  assert.equal(plain.where, 'localhost:5432/deploy');
  assert.equal(clientConfig(plain).options, undefined);
  assert.equal(plain.poolSize, 10, 'ten connections unless the URL says');
});

test('?pool=N sizes the pool and is not passed on to the server', () => {
  const t = parsePostgresUrl('postgres://deployr@db/deploy?pool=40&schema=site_a&sslmode=require');
  assert.equal(t.poolSize, 40);
  assert.equal(t.connectionString, 'postgres://deployr@db/deploy?sslmode=require');
  assert.equal(createPool(t).options.max, 40);
  assert.equal(createPool(t, 1).options.max, 1, 'an explicit size (migrations) wins');
});

test('UNAVAILABLE is one line naming host:port/db, never the password', () => {
  const t = parsePostgresUrl('postgres://deployr:Secret123@10.1.2.3:5433/deploy?schema=s');
  const err = unavailable(t, Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:5433\nmore'), { code: 'ECONNREFUSED' }));
  assert.equal(err.code, 'UNAVAILABLE');
  assert.equal(err.message, 'Cannot reach the PostgreSQL database at 10.1.2.3:5433/deploy: connect ECONNREFUSED 10.1.2.3:5433');
  assert.equal(unavailable(t, Object.assign(new AggregateError([], ''), { code: 'ECONNREFUSED' })).message, 'Cannot reach the PostgreSQL database at 10.1.2.3:5433/deploy: ECONNREFUSED');
});

test('lock keys and change channels differ per schema and are fixed for one', () => {
  assert.equal(lockKey('audit', 'a'), lockKey('audit', 'a'));
  assert.notEqual(lockKey('audit', 'a'), lockKey('audit', 'b'));
  assert.notEqual(lockKey('audit', 'a'), lockKey('migrations', 'a'));
  assert.match(lockKey('audit', null), /^-?\d+$/);
  assert.equal(changeChannel('a'), 'deployr_changes_a');
  assert.notEqual(changeChannel('a'), changeChannel(null));
  assert.ok(changeChannel('x'.repeat(63)).length <= 63);
});
