// The answer to HTTP parser errors on a real loopback connection: one error body, then the connection closes; a second error cuts it.

import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { clientErrors } from './error-status.js';

/** A connected loopback pair: the server's end and the client's, closed after the test. */
async function socketPair(t: { after(fn: () => Promise<void> | void): void }): Promise<{ server: Socket; client: Socket }> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'connection') as Promise<[Socket]>;
  const client = createConnection((listener.address() as { port: number }).port, '127.0.0.1');
  const [server] = await accepted;
  t.after(async () => { client.destroy(); server.destroy(); listener.close(); await once(listener, 'close'); });
  return { server, client };
}

test('a header overflow is answered 431 with the JSON error body and the connection is closed', async (t) => {
  const { server, client } = await socketPair(t);
  let received = '';
  client.on('data', (d: Buffer) => (received += d.toString('utf8')));
  const ended = once(client, 'end');
  clientErrors(Object.assign(new Error('Header overflow'), { code: 'HPE_HEADER_OVERFLOW' }), server);
  await ended;
  assert.match(received, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
  assert.match(received, /\r\nConnection: close\r\n/);
  assert.ok(received.endsWith('{"error":{"code":"INVALID_INPUT","message":"The request headers are too large."}}'), received);
});

test('a second error on a connection whose peer has not read the first answer cuts it at once: no second answer, no listeners piling up', async (t) => {
  const { server, client } = await socketPair(t);
  client.pause(); // the peer does not read
  const timeout = Object.assign(new Error('timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
  clientErrors(timeout, server);
  const finishListeners = server.listenerCount('finish');
  assert.equal(server.writableEnded, true, 'the first error ends the connection after its answer');
  assert.equal(server.destroyed, false, 'the answer may still be on its way');
  for (let i = 0; i < 20; i++) clientErrors(timeout, server);
  assert.equal(server.destroyed, true, 'the next error on the same connection destroys it');
  assert.ok(server.listenerCount('finish') <= finishListeners, `finish listeners: ${server.listenerCount('finish')} (was ${finishListeners})`);
});
