// The administrator's view of throttling, with the real CLI and service: list who must wait, let one source (or all) try again, clear the alert.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { runDeployr, setPasscode, startService, tempHome, type ServiceProcess } from './helpers/deployr-process.js';
import { httpsJson } from './helpers/https-json.js';

const PASSCODE = 'Heron-Meadow-Lantern-31';

describe('deployr throttle', () => {
  const { home, cleanup } = tempHome('deployr-throttle-admin-');
  let service: ServiceProcess;
  let ca: string;
  const cli = (args: string[]) => runDeployr(args, { home });
  const throttleAudit = async () => (await cli(['audit', '--kind', 'throttle', '--json'])).stdout.trim().split('\n').filter(Boolean)
    .map((l) => JSON.parse(l) as { reason: string; subject: string; detail: { cleared: number; address?: string; alertCleared: boolean } });
  const login = (passcode: string, localAddress: string, deviceId: string) =>
    httpsJson(`${service.url}/v1/auth/passcode`, { body: { passcode, context: 'boot', deviceId }, ca, localAddress });

  before(async () => {
    assert.equal((await setPasscode(home, PASSCODE)).code, 0);
    service = await startService({ home });
    ca = readFileSync(service.caFile, 'utf8');
  });

  after(async () => {
    await service?.stop();
    cleanup();
  });

  test('a throttled source is listed, and after clear it logs in at once while the service runs', async () => {
    // Seven counted failures: the source then waits 8 s (3 free, then 1, 2, 4, 8 s); a refused (429) try is not counted.
    for (let counted = 0; counted < 7;) {
      const r = await login(`Wrong-Guess-Number-${counted}`, '127.0.0.1', 'pc-17');
      if (r.status === 401) counted += 1;
      else await new Promise((resolve) => setTimeout(resolve, Number(r.headers['retry-after'] ?? 1) * 1000));
    }
    const refused = await login(PASSCODE, '127.0.0.1', 'pc-17');
    assert.equal(refused.status, 429, 'the right passcode is refused while the source waits');

    const list = await cli(['throttle', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^127\.0\.0\.1 device pc-17: \d+ failed logins, last at \S+; must wait \d+ (s|min)$/m);
    assert.match(list.stdout, /^127\.0\.0\.1 \(the address as a whole\): \d+ failed logins/m);
    assert.match(list.stdout, /deployr throttle clear ADDRESS/);
    assert.doesNotMatch(list.stdout + list.stderr, /Wrong-Guess|Heron-Meadow/, 'no guessed value or passcode is shown');
    const json = JSON.parse((await cli(['throttle', 'list', '--json'])).stdout) as { counters: { scope: string; address: string; deviceId: string | null; waitSeconds: number }[] };
    assert.ok(json.counters.some((c) => c.scope === 'source' && c.address === '127.0.0.1' && c.deviceId === 'pc-17' && c.waitSeconds > 0));

    const cleared = await cli(['throttle', 'clear', '127.0.0.1']);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.equal(cleared.stdout.trim(), 'Cleared 2 failure counters of 127.0.0.1: it may try again at once.');
    const ok = await login(PASSCODE, '127.0.0.1', 'pc-17');
    assert.equal(ok.status, 200, ok.text);
    assert.ok((await throttleAudit()).some((r) => r.reason === 'address_cleared' && r.detail.address === '127.0.0.1' && r.detail.cleared === 2), 'the clear is audited');
    assert.match((await cli(['throttle', 'list'])).stdout, /No failed logins are being counted\./);
  });

  test('clearing only touches the address named; nothing to clear is said plainly; bad arguments get one line', async () => {
    for (let i = 0; i < 5; i++) await login(`Other-Wrong-${i}`, '127.0.0.2', 'pc-2');
    for (let i = 0; i < 5; i++) await login(`Third-Wrong-${i}`, '127.0.0.3', 'pc-3');
    assert.equal((await cli(['throttle', 'clear', '127.0.0.2'])).code, 0);
    const after = JSON.parse((await cli(['throttle', 'list', '--json'])).stdout) as { counters: { address: string }[] };
    const addresses = new Set(after.counters.map((c) => c.address));
    assert.ok(!addresses.has('127.0.0.2') && addresses.has('127.0.0.3'), 'another address keeps its counters');
    const none = await cli(['throttle', 'clear', '10.9.9.9']);
    assert.equal(none.code, 0);
    assert.equal(none.stdout.trim(), 'No failure counters of 10.9.9.9 to clear.');
    for (const [args, message] of [
      [['throttle', 'clear'], /Say what to clear: an ADDRESS \(see deployr throttle list\), --all, or --alert\./],
      [['throttle', 'clear', '127.0.0.3', '--all'], /Give either an ADDRESS or --all, not both\./],
      [['throttle', 'clear', 'a b'], /The address given \(3 characters\) is not an address as deployr throttle list shows them\./],
    ] as const) {
      const r = await cli([...args]);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
    const all = await cli(['throttle', 'clear', '--all']);
    assert.match(all.stdout, /Cleared \d+ failure counters? of every source/);
    assert.match((await cli(['throttle', 'list'])).stdout, /No failed logins are being counted\./);
  });

  test('the consecutive-failure alert is shown and can be cleared; every clear is audited and the chain verifies', async () => {
    // 100 consecutive failures (the default threshold), each from its own address so that none is throttled first.
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => login(`Flood-Guess-${batch}-${i}`, `127.0.5.${1 + batch * 10 + i}`, `flood-${batch}-${i}`)));
    }
    const list = await cli(['throttle', 'list']);
    assert.match(list.stdout, /^ALERT since \S+: \d{3} consecutive failed logins; passcode checks are slowed for everyone/m);
    const cleared = await cli(['throttle', 'clear', '--alert']);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.match(cleared.stdout, /Cleared the consecutive-failure count and the alert/);
    const json = JSON.parse((await cli(['throttle', 'list', '--json'])).stdout) as { consecutiveFailures: number; alertSince: string | null };
    assert.deepEqual([json.consecutiveFailures, json.alertSince], [0, null]);
    assert.equal((await cli(['throttle', 'clear', '--alert'])).stdout.trim(), 'There was no consecutive-failure count or alert to clear.');

    const rows = await throttleAudit();
    assert.deepEqual(rows.filter((r) => r.reason === 'alert_cleared').map((r) => [r.subject, r.detail.alertCleared]), [['admin', true], ['admin', false]]);
    assert.equal((await cli(['audit', 'verify'])).code, 0);
  });
});
