// The PostgreSQL URL: ?schema= and ?pool= taken out and checked, host:port/db for messages; refusals never echo the value.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { isDeployrError } from './errors.js';
import { parsePostgresUrl } from './postgres-url.js';

test('the schema and the pool size are taken out of the URL; other parameters stay; host:port/db names it without the password', () => {
  const t = parsePostgresUrl('postgresql://deployr:pw@db.example:6543/deploy?sslmode=require&schema=site_a&pool=25');
  assert.deepEqual(t, { connectionString: 'postgresql://deployr:pw@db.example:6543/deploy?sslmode=require', schema: 'site_a', where: 'db.example:6543/deploy', poolSize: 25 });
  assert.deepEqual(parsePostgresUrl('postgres://deployr@localhost/deploy'), { connectionString: 'postgres://deployr@localhost/deploy', schema: null, where: 'localhost:5432/deploy', poolSize: 10 });
});

test('a schema that is not a plain lower-case identifier, or a URL that is not PostgreSQL, is refused without echoing it', () => {
  for (const url of ['postgres://u@h/db?schema=a;drop', 'postgres://u@h/db?schema=Upper', 'postgres://u@h/db?schema=', 'postgres://u@h/db?schema=1abc', `postgres://u@h/db?schema=${'a'.repeat(64)}`, 'mysql://u@h/db', 'not a url']) {
    assert.throws(() => parsePostgresUrl(url), (err: unknown) => isDeployrError(err, 'INVALID_INPUT') && !err.message.includes('drop'));
  }
});

test('a pool that is not a whole number from 1 to 100 is refused', () => {
  for (const pool of ['0', '101', '-1', '2.5', 'ten', '', '1e2']) {
    assert.throws(() => parsePostgresUrl(`postgres://u@h/db?pool=${pool}`), (err: unknown) => isDeployrError(err, 'INVALID_INPUT') && /from 1 to 100/.test(err.message), pool);
  }
});
