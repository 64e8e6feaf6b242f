// The client's HTTPS requests: a kept-alive connection the server dropped is retried once on a new one; other failures are not.

import { strict as assert } from 'node:assert';
import { createServer } from 'node:https';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { ApiClient } from '../src/client/api-client.js';
import { createTestPki } from './helpers/pki.js';

test('a request on a reused connection that the server closed is sent once more, on a new connection', async (t) => {
  const pki = await createTestPki();
  const cert = await pki.issueServer({ names: ['localhost', '127.0.0.1'] });
  const perSocket = new WeakMap<Socket, number>();
  let served = 0;
  let dropped = 0;
  const server = createServer({ cert: cert.certPem, key: cert.keyPem, keepAliveTimeout: 60_000 }, (req, res) => {
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    // The second request on any connection: drop the connection without answering, as a server
    // closing an idle or stale keep-alive connection does.
    if (n === 2) { dropped += 1; req.socket.destroy(); return; }
    served += 1;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ n: served }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const port = (server.address() as { port: number }).port;
  const api = await ApiClient.connect(`https://127.0.0.1:${port}`, { caPem: pki.root.certPem });

  const first = await api.request<{ n: number }>('GET', '/one');
  const second = await api.request<{ n: number }>('GET', '/two');
  assert.equal(first.body.n, 1);
  assert.equal(second.body.n, 2, 'the second request was answered after one retry');
  assert.equal(dropped, 1);
});

test('an unreachable server is not retried and gives one line', async () => {
  const pki = await createTestPki();
  const api = await ApiClient.connect('https://127.0.0.1:1', { caPem: pki.root.certPem });
  await assert.rejects(api.request('GET', '/x'), /Cannot reach the server at https:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/);
});
