// Crash safety: a child process looping logins and passcode changes is killed with SIGKILL at random moments, many times; the store must stay whole.

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { createArgon2Hasher } from '../src/auth/passcode-hasher.js';
import { SecurityAdmin } from '../src/auth/security-admin.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { ATTACKER, crashPasscode } from './helpers/crash-child.js';

const CHILD = fileURLToPath(new URL('./helpers/crash-child.js', import.meta.url));
const KEY = Buffer.alloc(32, 5);
const KILLS = 20;

/** A small seeded generator, so that a failing run can be repeated (the seed is in the test name). */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return ((s ^ (s >>> 13)) >>> 0) / 2 ** 32;
  };
}

/** Runs the child until it has been working for `ms`, then SIGKILLs it; returns what it said. */
function runAndKill(file: string, start: number, run: number, ms: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, file, KEY.toString('hex'), String(start), String(run)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      if (out.startsWith('READY') && !timer) timer = setTimeout(() => child.kill('SIGKILL'), ms);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    let timer: NodeJS.Timeout | undefined;
    const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`the child ended by itself (${code}): ${err}`));
      else resolve(out.split('\n').filter(Boolean));
    });
  });
}

const seed = Number(process.env.DEPLOYR_CRASH_SEED ?? Date.now() % 1_000_000);

test(`SIGKILL at ${KILLS} random moments: integrity ok, audit chain intact, every token seen has its row, counters match their rows, a valid passcode exists (seed ${seed})`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-crash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'deployr.db');
  const hasher = createArgon2Hasher({ params: { memoryCost: 1024, timeCost: 1, parallelism: 1 } });
  {
    const store = openSqliteStore(file, KEY);
    await new SecurityAdmin(store, hasher).apply([{ kind: 'passcode', passcode: crashPasscode(0) }]);
    await store.close();
  }
  const random = prng(seed);
  let current = 0;
  const seen = new Set<string>();
  let changesCut = 0;
  for (let run = 0; run < KILLS; run++) {
    const lines = await runAndKill(file, current, run, 30 + Math.floor(random() * 450));
    for (const l of lines) if (l.startsWith('OK ')) seen.add(l.slice(3));
    const changed = lines.filter((l) => l.startsWith('CHANGED ')).map((l) => Number(l.slice(8)));
    const changing = lines.filter((l) => l.startsWith('CHANGING ')).map((l) => Number(l.slice(9)));
    if (changed.length) current = changed.at(-1) as number;
    const inFlight = (changing.at(-1) ?? -1) > current ? (changing.at(-1) as number) : null;

    const store = openSqliteStore(file, KEY);
    try {
      assert.equal(await store.integrityCheck(), 'ok', `run ${run}: integrity`);
      const chain = await store.verify();
      assert.equal(chain.ok, true, `run ${run}: audit chain broken at ${chain.brokenAt}`);
      const rows = await store.list({ kind: 'login' });
      const audited = new Set(rows.filter((r) => r.result === 'success').map((r) => String(r.detail.tokenId)));
      for (const id of seen) assert.ok(audited.has(id), `run ${run}: token ${id} was handed out without its audit row`);
      const wrong = rows.filter((r) => r.source === ATTACKER.address && r.reason === 'wrong_passcode').length;
      const { records } = await store.throttleState([`src:${ATTACKER.address}|`]);
      assert.equal(records.get(`src:${ATTACKER.address}|`)?.failures ?? 0, wrong, `run ${run}: throttle counter and audit rows disagree`);

      // Exactly one of the old and the new passcode is the passcode (the other may still be the previous one in its window).
      const { settings } = (await store.getSecurity());
      assert.ok(settings.passcode, `run ${run}: no passcode`);
      const candidates = inFlight === null ? [current] : [current, inFlight];
      const matching = [];
      for (const n of candidates) if (await hasher.verify(settings.passcode.hash, crashPasscode(n))) matching.push(n);
      assert.equal(matching.length, 1, `run ${run}: the passcode is neither ${candidates.join(' nor ')}`);
      if (inFlight !== null) {
        changesCut += 1;
        current = matching[0] as number;
      }
      assert.equal(settings.passcode.generation, current + 1, `run ${run}: generation`);
      if (settings.previousPasscode) {
        assert.ok(await hasher.verify(settings.previousPasscode.hash, crashPasscode(current - 1)), `run ${run}: the overlap passcode is the one before`);
      }
      const changes = (await store.list({ kind: 'settings' })).filter((r) => r.reason === 'passcode_changed' || r.reason === 'passcode_set');
      assert.equal(changes.length, current + 1, `run ${run}: every passcode change has its audit row`);
    } finally {
      await store.close();
    }
  }
  t.diagnostic(`${seen.size} logins seen, ${current} passcode changes, ${changesCut} kills during a change`);
  assert.ok(seen.size > KILLS, 'the child got real work done between kills');
});
