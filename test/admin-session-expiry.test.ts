// Console sessions end: idle and absolute expiry with short settings, and a service stops while a dashboard listens.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runDeployr, startService, tempHome, type ServiceProcess } from './helpers/deployr-process.js';
import { signIn } from './helpers/admin-session.js';

describe('admin sessions expire', () => {
  const { home, cleanup } = tempHome('deployr-admin-expiry-');
  let service: ServiceProcess;
  const PASSWORD = 'Copper-Harbour-Kettle-58';

  before(async () => {
    const add = await runDeployr(['admin', 'add', 'alice', '--role', 'admin'], { home, input: `${PASSWORD}\n${PASSWORD}\n` });
    assert.equal(add.code, 0, add.stderr);
    // Short settings: idle after 2 s without a request, ended 4 s after sign-in whatever happens.
    service = await startService({ home, env: { DEPLOYR_ADMIN_SESSION_IDLE: '2', DEPLOYR_ADMIN_SESSION_MAX: '4' } });
  });

  after(async () => {
    await service?.stop();
    cleanup();
  });

  test('an idle session ends; a busy one ends at its absolute limit', async () => {
    const idle = await signIn(service.url, 'alice', PASSWORD);
    assert.equal((await idle.send('GET', '/v1/admin/session')).status, 200);
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await idle.send('GET', '/v1/admin/session')).status, 401, 'idle too long');
    assert.equal((await idle.send('GET', '/v1/admin/session')).status, 401, 'and removed');

    const started = Date.now();
    const busy = await signIn(service.url, 'alice', PASSWORD);
    let status = 200;
    while (status === 200 && Date.now() - started < 20_000) {
      await new Promise((r) => setTimeout(r, 500));
      status = (await busy.send('GET', '/v1/admin/session')).status;
    }
    assert.equal(status, 401, 'ended although it was never idle for 2 s');
    assert.ok(Date.now() - started >= 4000, 'not before its absolute limit');
  });

  test('the service stops with a dashboard still listening: the feed is ended, not waited for', async () => {
    const { request } = await import('node:https');
    const s = await signIn(service.url, 'alice', PASSWORD);
    // (The end is wrapped in an object: resolving with a bare promise would wait for it.)
    const stream = await new Promise<{ ended: Promise<void> }>((resolve, reject) => {
      const req = request(`${service.url}/v1/admin/runs/events`, { rejectUnauthorized: false, agent: false, headers: { cookie: s.cookie } }, (res) => {
        assert.equal(res.statusCode, 200);
        res.resume();
        resolve({ ended: new Promise<void>((done) => res.on('end', () => done())) });
      });
      req.on('error', reject);
      req.end();
    });
    // Before the fix, stop() never resolved while a feed was open (the test then times out).
    assert.equal(await service.stop(), 0);
    await stream.ended;
  });
});
