// The tamper-evident audit trail: append-only, HMAC-chained rows; `deployr audit verify` finds edits and deletions; `deployr audit export` writes JSON lines.

import { strict as assert } from 'node:assert';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { runDeployr, setPasscode, startService, tempHome, type ServiceProcess } from './helpers/deployr-process.js';
import { httpsJson } from './helpers/https-json.js';

const PASSCODE = 'Kestrel-Meadow-Anchor-5';

interface Row { seq: number; at: string; kind: string; method: string; result: string; reason: string; subject: string; source: string | null; device: string | null; detail: Record<string, unknown>; mac: string }

describe('the audit trail of a real home', () => {
  const { home, cleanup } = tempHome();
  const dbFile = join(home, 'deployr.db');
  let svc: ServiceProcess;
  let rows: Row[] = [];

  before(async () => {
    assert.equal((await setPasscode(home, PASSCODE)).code, 0);
    svc = await startService({ home });
    const ca = readFileSync(svc.caFile, 'utf8');
    const login = (passcode: string, deviceId?: string) => httpsJson(`${svc.url}/v1/auth/passcode`, { body: { passcode, context: 'boot', ...(deviceId ? { deviceId } : {}) }, ca });
    assert.equal((await login('not-the-passcode-1', 'PC-17')).status, 401);
    assert.equal((await login('not-the-passcode-2')).status, 401);
    assert.equal((await login(PASSCODE, 'PC-17')).status, 200);
    await svc.stop();
    const exported = await runDeployr(['audit', 'export'], { home });
    assert.equal(exported.code, 0, exported.stderr);
    rows = exported.stdout.trim().split('\n').map((l) => JSON.parse(l) as Row);
  });
  after(() => cleanup());

  test('export writes one JSON object per line, oldest first, with every login attempt and the settings change', () => {
    assert.deepEqual(rows.map((r) => r.seq), rows.map((_, i) => i + 1));
    assert.deepEqual(rows.map((r) => `${r.kind}/${r.result}/${r.reason}`), [
      'settings/changed/passcode_set', 'login/failure/wrong_passcode', 'login/failure/wrong_passcode', 'login/success/ok',
    ]);
    const success = rows[3] as Row;
    assert.equal(success.method, 'passcode');
    assert.equal(success.source, '127.0.0.1');
    assert.equal(success.device, 'PC-17');
    assert.match(String(success.detail.tokenId), /^[0-9a-f-]{36}$/);
    for (const r of rows) assert.match(r.mac, /^[0-9a-f]{64}$/);
  });

  test('no audit row, export line or log line holds a passcode', async () => {
    const all = JSON.stringify(rows) + (await runDeployr(['audit'], { home })).stdout + svc.output();
    for (const secret of [PASSCODE, 'not-the-passcode-1', 'not-the-passcode-2']) assert.equal(all.includes(secret), false, secret);
  });

  test('the table is append-only: UPDATE and DELETE are refused by SQLite itself', () => {
    const db = new Database(dbFile);
    try {
      assert.throws(() => db.prepare("UPDATE audit SET result = 'success' WHERE seq = 2").run(), /append-only/);
      assert.throws(() => db.prepare('DELETE FROM audit WHERE seq = 2').run(), /append-only/);
    } finally {
      db.close();
    }
  });

  test('verify passes on an intact trail and prints the head to keep as an anchor', async () => {
    const v = await runDeployr(['audit', 'verify'], { home });
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /intact \(4 entries checked\)/);
    assert.match(v.stdout, new RegExp(`Head: 4:${(rows[3] as Row).mac}`));
  });

  /** Runs `body` on a copy of the database with the triggers dropped (what someone with file access could do), then verifies the copy. */
  async function tamper(body: (db: Database.Database) => void, extraArgs: string[] = []): Promise<{ code: number | null; stdout: string }> {
    const copy = tempHome('deployr-tamper-');
    try {
      const src = new Database(dbFile);
      await src.backup(join(copy.home, 'deployr.db'));
      src.close();
      const key = readFileSync(join(home, 'audit.key'));
      const { writeFileSync } = await import('node:fs');
      writeFileSync(join(copy.home, 'audit.key'), key, { mode: 0o600 });
      const db = new Database(join(copy.home, 'deployr.db'));
      db.exec('DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;');
      body(db);
      db.close();
      const r = await runDeployr(['audit', 'verify', ...extraArgs], { home: copy.home });
      return { code: r.code, stdout: r.stdout + r.stderr };
    } finally {
      copy.cleanup();
    }
  }

  test('an edited row is detected, and named', async () => {
    const r = await tamper((db) => db.prepare("UPDATE audit SET result = 'success', reason = 'ok' WHERE seq = 2").run());
    assert.equal(r.code, 1);
    assert.match(r.stdout, /tampered with: entry 2 does not match the chain \(1 entry before it is intact\)/);
  });

  test('a deleted row is detected', async () => {
    const r = await tamper((db) => db.prepare('DELETE FROM audit WHERE seq = 3').run());
    assert.equal(r.code, 1);
    assert.match(r.stdout, /entry 4 does not match/);
  });

  test('a row forged without the key is detected, even with a well-formed MAC', async () => {
    const r = await tamper((db) => {
      const last = db.prepare('SELECT mac FROM audit WHERE seq = 4').pluck().get() as string;
      const forged = createHmac('sha256', Buffer.alloc(32, 1)).update(last).digest('hex');
      db.prepare("INSERT INTO audit (seq, at, kind, method, result, reason, subject, source, device, detail, mac) VALUES (5, '2026-11-28T10:00:00.000Z', 'settings', 'security', 'changed', 'bypass_on', 'admin', 'local', NULL, '{}', ?)").run(forged);
    });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /entry 5 does not match/);
  });

  test('rows cut off the end pass the chain alone, but not the anchor printed earlier', async () => {
    const head = `4:${(rows[3] as Row).mac}`;
    const cut = (db: Database.Database): void => { db.prepare('DELETE FROM audit WHERE seq = 4').run(); };
    assert.equal((await tamper(cut)).code, 0, 'the documented limit of a chain on its own');
    const anchored = await tamper(cut, ['--anchor', head]);
    assert.equal(anchored.code, 1);
    assert.match(anchored.stdout, /does not contain the anchor entry 4/);
    assert.equal((await runDeployr(['audit', 'verify', '--anchor', head], { home })).code, 0);
    const bad = await runDeployr(['audit', 'verify', '--anchor', 'yesterday'], { home });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--anchor takes SEQ:MAC/);
  });
});
