// `deployr db migrate|copy` and `--database` through the real CLI: versions before and after, a newer schema refused, bad URLs and unreachable servers in one line without the password, a populated SQLite home moved into PostgreSQL.

import { strict as assert } from 'node:assert';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { passcodeLogin } from './helpers/cluster.js';
import { runDeployr, setPasscode, startService, tempHome } from './helpers/deployr-process.js';
import { PASSCODE, RUN_COMMAND_LINE, runIdOf } from './helpers/field-fixture.js';
import { step, taskSequence } from './helpers/task-sequence-json.js';
import { freshSchemaUrl, pgAdmin, PG_REQUIRED, pgUnavailableReason } from './helpers/postgres.js';

const unavailable = await pgUnavailableReason();
if (unavailable && PG_REQUIRED) throw new Error(`${unavailable} (DEPLOYR_PG_TESTS=required)`);
const skipPg = unavailable ? `${unavailable}; set DEPLOYR_TEST_PG_URL, or DEPLOYR_PG_TESTS=required to fail instead` : false;

describe('deployr db and --database', () => {
  test('db migrate on the home\'s SQLite file: nothing to do once a command has opened it; a newer schema is refused by every command', async () => {
    const { home, cleanup } = tempHome('deployr-db-migrate-');
    try {
      assert.equal((await runDeployr(['configure', 'security', '--bypass', 'on'], { home })).code, 0);
      const migrate = await runDeployr(['db', 'migrate'], { home });
      assert.equal(migrate.code, 0, migrate.stderr);
      assert.match(migrate.stdout, /deployr\.db: the schema is at version \d+, nothing to do\.\n$/);
      const db = new Database(join(home, 'deployr.db'));
      db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from the future', '2030-01-01T00:00:00Z')").run();
      db.close();
      for (const args of [['ts', 'list'], ['db', 'migrate'], ['audit', 'verify']]) {
        const refused = await runDeployr(args, { home });
        assert.equal(refused.code, 1, args.join(' '));
        assert.match(refused.stderr, /^error: The database's schema is version 999, newer than this deployr knows \(\d+\): .* \[INTEGRITY\]\n$/);
      }
    } finally { cleanup(); }
  });

  test('--database sqlite:PATH keeps the store outside the home; a value that is neither sqlite: nor postgres://, or a bad ?pool= or ?schema=, is one line at the flag and never echoed', async () => {
    const { home, cleanup } = tempHome('deployr-db-sqlite-path-');
    try {
      const file = join(home, 'elsewhere', 'store.db');
      assert.equal((await runDeployr(['configure', 'security', '--bypass', 'on', '--database', `sqlite:${file}`], { home })).code, 0);
      const shown = await runDeployr(['configure', 'show'], { home, env: { DEPLOYR_DATABASE_URL: `sqlite:${file}` } });
      assert.match(shown.stdout, /bypass.*on/i);
      const plain = await runDeployr(['configure', 'show'], { home });
      assert.doesNotMatch(plain.stdout, /bypass.*\bon\b/i, 'the home\'s own deployr.db is another store');
      const bad = await runDeployr(['ts', 'list', '--database', 'mysql://root:hunter2@db/x'], { home });
      assert.equal(bad.code, 1);
      assert.equal(bad.stderr, 'error: --database must be sqlite:PATH or postgres://USER@HOST:PORT/DATABASE (the value given: 25 characters). [INVALID_INPUT]\n');
      // A bad ?pool= or ?schema= is named at the flag, before any connection is tried (port 1 answers nothing).
      const badPool = await runDeployr(['ts', 'list', '--database', 'postgres://deployr:hunter2@127.0.0.1:1/x?pool=500'], { home });
      assert.equal(badPool.stderr, 'error: --database: The pool in the database URL must be a whole number of connections from 1 to 100, not the 3 characters given. [INVALID_INPUT]\n');
      const badSchema = await runDeployr(['ts', 'list'], { home, env: { DEPLOYR_DATABASE_URL: 'postgres://127.0.0.1:1/x?schema=Site;drop' } });
      assert.equal(badSchema.stderr, 'error: --database: The schema in the database URL must be a plain lower-case identifier (letters, digits, _; at most 63 characters), not one of 9 characters like that. [INVALID_INPUT]\n');
    } finally { cleanup(); }
  });

  test('an unreachable PostgreSQL server is one UNAVAILABLE line naming host:port/db, never the password', async () => {
    const { home, cleanup } = tempHome('deployr-db-unreachable-');
    try {
      assert.equal((await runDeployr(['configure', 'security', '--bypass', 'on'], { home })).code, 0);
      const r = await runDeployr(['ts', 'list'], { home, env: { DEPLOYR_DATABASE_URL: 'postgres://deployr:Sup3r-Secret-Pw@127.0.0.1:1/deployr' } });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error: Cannot reach the PostgreSQL database at 127\.0\.0\.1:1\/deployr: .*\[UNAVAILABLE\]\n$/);
      assert.ok(!(r.stdout + r.stderr).includes('Sup3r-Secret-Pw'));
      const copy = await runDeployr(['db', 'copy', '--from', `sqlite:${join(home, 'deployr.db')}`, '--to', 'postgres://deployr:Sup3r-Secret-Pw@127.0.0.1:1/deployr'], { home });
      assert.equal(copy.code, 1);
      assert.ok(!(copy.stdout + copy.stderr).includes('Sup3r-Secret-Pw'), copy.stderr);
      const backwards = await runDeployr(['db', 'copy', '--from', 'postgres://x@127.0.0.1:1/y', '--to', `sqlite:${join(home, 'copy.db')}`], { home });
      assert.equal(backwards.stderr, 'error: --from must be a SQLite store (sqlite:PATH). [INVALID_INPUT]\n');
    } finally { cleanup(); }
  });

  test('db migrate on PostgreSQL: a fresh schema from 0 to the newest, then nothing to do; a newer one is refused', { skip: skipPg }, async () => {
    const { home, cleanup } = tempHome('deployr-db-migrate-pg-');
    const schema = await freshSchemaUrl();
    try {
      const env = { DEPLOYR_DATABASE_URL: schema.url };
      const first = await runDeployr(['db', 'migrate'], { home, env });
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /: schema version 0 → \d+\.\n$/);
      const again = await runDeployr(['db', 'migrate'], { home, env });
      assert.match(again.stdout, /the schema is at version \d+, nothing to do\.\n$/);
      await pgAdmin(`INSERT INTO ${schema.schema}.schema_migrations (version, name, applied_at) VALUES (999, 'from the future', '2030-01-01T00:00:00Z')`);
      const refused = await runDeployr(['ts', 'list'], { home, env });
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /newer than this deployr knows.*\[INTEGRITY\]\n$/);
    } finally {
      cleanup();
      await schema.drop();
    }
  });
});

describe('deployr db copy', { skip: skipPg }, () => {
  test('moves a populated SQLite home into PostgreSQL: settings, passcode, task sequences, runs and the audit chain, then refuses a second copy', async () => {
    const { home, cleanup } = tempHome('deployr-db-copy-');
    const schema = await freshSchemaUrl();
    const work = mkdtempSync(join(tmpdir(), 'deployr-db-copy-work-'));
    try {
      assert.equal((await setPasscode(home, PASSCODE)).code, 0);
      const file = join(work, 'ts.json');
      const ts = taskSequence('Copied', [step('Echo', RUN_COMMAND_LINE, { CommandLine: 'echo copied' })]);
      writeFileSync(file, JSON.stringify(ts));
      assert.equal((await runDeployr(['ts', 'import', file], { home })).code, 0);
      assert.equal((await runDeployr(['passcode', 'add', 'site-b', '--generate', '--uses', '5'], { home })).code, 0);
      const svc = await startService({ home });
      const run = await runDeployr(['client', '--server', svc.url, '--ca', svc.caFile, '--fullos', '--ts', ts.id as string, '--device-id', 'copy-client', '--state-dir', join(work, 'state')], { env: { DEPLOYR_VAR_Passcode: PASSCODE } });
      assert.equal(run.code, 0, run.stdout + run.stderr);
      const runId = runIdOf(run.stdout);
      await svc.stop();
      const before = await runDeployr(['audit', 'verify'], { home });
      const head = /Head: (\d+:[0-9a-f]{64})/.exec(before.stdout)?.[1];
      assert.ok(head, before.stdout);

      const copy = await runDeployr(['db', 'copy', '--from', `sqlite:${join(home, 'deployr.db')}`, '--to', schema.url], { home });
      assert.equal(copy.code, 0, copy.stdout + copy.stderr);
      assert.match(copy.stdout, /The audit chain verifies in the target/);
      assert.ok(copy.stdout.includes(`Head: ${head}`), copy.stdout);

      const env = { DEPLOYR_DATABASE_URL: schema.url };
      const verify = await runDeployr(['audit', 'verify', '--anchor', head], { home, env });
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      assert.match((await runDeployr(['ts', 'list'], { home, env })).stdout, /Copied/);
      assert.match((await runDeployr(['runs', 'show', runId], { home, env })).stdout, /succeeded/);
      assert.match((await runDeployr(['passcode', 'list'], { home, env })).stdout, /site-b/);
      const node = await startService({ home, env });
      try {
        assert.equal((await passcodeLogin(node.url, PASSCODE, { localAddress: '127.0.40.1' })).status, 200, 'the copied passcode signs in on a node on PostgreSQL');
      } finally { await node.stop(); }

      const again = await runDeployr(['db', 'copy', '--from', `sqlite:${join(home, 'deployr.db')}`, '--to', schema.url], { home });
      assert.equal(again.code, 1);
      assert.match(again.stderr, /already holds deployr data.*Nothing was copied\. \[CONFLICT\]/);
    } finally {
      cleanup();
      rmSync(work, { recursive: true, force: true });
      await schema.drop();
    }
  });
});
