// The client's HTTPS connection with several servers: which failures move it to the next server (and which are answers), pinning, fingerprints, and a download resumed with Range on the next server.

import { strict as assert } from 'node:assert';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { buffer } from 'node:stream/consumers';
import { before, describe, test } from 'node:test';
import { ApiClient, type ClientError } from '../src/client/api-client.js';
import { streamContentFile } from '../src/client/content/image-source.js';
import { makeSelfSignedCertificate } from '../src/server/tls-certificate.js';
import { createTestPki, type IssuedCertificate, type TestPki } from './helpers/pki.js';

/** An HTTPS server on loopback whose every request goes to `handle`; `hits` counts them. */
interface TestServer { url: string; hits: number; close(): Promise<void> }

async function serve(cert: { certPem: string; keyPem: string }, handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const server: Server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => { t.hits += 1; handle(req, res); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const t: TestServer = {
    url: `https://127.0.0.1:${(server.address() as { port: number }).port}`,
    hits: 0,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
  return t;
}

const json = (status: number, body: unknown) => (_req: IncomingMessage, res: ServerResponse): void => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

/** A loopback address nothing listens on. */
async function closedUrl(): Promise<string> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `https://127.0.0.1:${port}`;
}

describe('ApiClient with several servers', () => {
  let pki: TestPki;
  let cert: IssuedCertificate;
  before(async () => {
    pki = await createTestPki();
    cert = await pki.issueServer({ names: ['localhost', '127.0.0.1'] });
  });

  async function client(servers: string[], said: string[]): Promise<ApiClient> {
    const api = await ApiClient.connect(servers, { caPem: pki.root.certPem });
    api.onServerChange((line) => said.push(line));
    return api;
  }

  test('503 moves to the next server, once: the client then stays there (pinned) while it answers', async (t) => {
    const x = await serve(cert, json(503, { error: { code: 'UNAVAILABLE', message: 'down for maintenance' } }));
    const y = await serve(cert, json(200, { from: 'y' }));
    t.after(async () => { await x.close(); await y.close(); });
    const said: string[] = [];
    const api = await client([x.url, y.url], said);
    assert.deepEqual((await api.request<{ from: string }>('GET', '/a')).body, { from: 'y' });
    assert.deepEqual((await api.call<{ from: string }>('POST', '/b', {})), { from: 'y' });
    assert.equal(x.hits, 1, 'the first server was asked once');
    assert.equal(y.hits, 2);
    assert.equal(api.baseUrl.origin, y.url);
    assert.deepEqual(said, [`Server ${x.url} does not answer (HTTP 503); trying ${y.url}.`]);
  });

  test('401, 403, 404 and 429 are answers: the client never moves on them', async (t) => {
    const y = await serve(cert, json(200, {}));
    t.after(() => y.close());
    for (const status of [401, 403, 404, 429]) {
      const x = await serve(cert, json(status, { error: { code: 'X', message: `status ${status}` } }));
      const said: string[] = [];
      const api = await client([x.url, y.url], said);
      assert.equal((await api.request('GET', '/a')).status, status);
      await assert.rejects(api.call('POST', '/b', {}), (err: ClientError) => err.status === status);
      assert.equal(api.baseUrl.origin, x.url);
      assert.deepEqual(said, []);
      await x.close();
    }
    assert.equal(y.hits, 0);
  });

  test('a server that answered and then stops (closed): "stopped answering; moving to"; with every server down, one line naming them all', async () => {
    const x = await serve(cert, json(200, { from: 'x' }));
    const y = await serve(cert, json(200, { from: 'y' }));
    const said: string[] = [];
    const api = await client([x.url, y.url], said);
    assert.deepEqual((await api.request('GET', '/a')).body, { from: 'x' });
    await x.close();
    assert.deepEqual((await api.request('GET', '/b')).body, { from: 'y' });
    assert.deepEqual(said, [`Server ${x.url} stopped answering (ECONNREFUSED); moving to ${y.url}.`]);
    await y.close();
    await assert.rejects(api.request('GET', '/c'), (err: ClientError) => {
      assert.equal(err.code, 'UNREACHABLE');
      assert.equal(err.message, `Cannot reach any of the 2 servers (${y.url} ECONNREFUSED, ${x.url} ECONNREFUSED). Check the addresses and that the service is running.`);
      return true;
    });
  });

  test('a POST that may have reached the server (reset, 502) moves only when marked idempotent; a refused one always moves', async (t) => {
    const reset = await serve(cert, (req) => { req.socket.destroy(); });
    const bad = await serve(cert, json(502, { error: { code: 'X', message: 'bad gateway' } }));
    const y = await serve(cert, json(200, { from: 'y' }));
    const refused = await closedUrl();
    t.after(async () => { await reset.close(); await bad.close(); await y.close(); });
    await assert.rejects((await client([reset.url, y.url], [])).request('POST', '/login', {}), (err: ClientError) => err.code === 'UNREACHABLE' && err.errno === 'ECONNRESET');
    assert.equal(y.hits, 0, 'a login that may have been seen is not sent to another server');
    assert.equal((await (await client([bad.url, y.url], [])).request('POST', '/login', {})).status, 502);
    assert.equal(y.hits, 0);
    assert.deepEqual((await (await client([reset.url, y.url], [])).request('POST', '/steps', {}, undefined, { idempotent: true })).body, { from: 'y' });
    assert.deepEqual((await (await client([bad.url, y.url], [])).request('POST', '/steps', {}, undefined, { idempotent: true })).body, { from: 'y' });
    assert.deepEqual((await (await client([refused, y.url], [])).request('POST', '/login', {})).body, { from: 'y' });
    assert.equal(y.hits, 3);
    assert.deepEqual((await (await client([reset.url, y.url], [])).request('GET', '/read')).body, { from: 'y' }, 'a GET is always sent again');
  });

  test('a pinned fingerprint is checked on every server; a server with another certificate is refused, never skipped', async (t) => {
    // Self-signed certificates, as the service makes for itself (a pin names the certificate, not a CA).
    const [mine, another] = await Promise.all([makeSelfSignedCertificate('localhost'), makeSelfSignedCertificate('localhost')]);
    const wrong = await serve({ certPem: another.cert, keyPem: another.key }, json(200, { from: 'wrong' }));
    const y = await serve({ certPem: mine.cert, keyPem: mine.key }, json(200, { from: 'y' }));
    const down = await closedUrl();
    t.after(async () => { await wrong.close(); await y.close(); });
    const fingerprint = new X509Certificate(mine.cert).fingerprint256;
    const said: string[] = [];
    const pinned = await ApiClient.connect(`${down},${y.url}`, { fingerprint });
    pinned.onServerChange((line) => said.push(line));
    assert.deepEqual((await pinned.request('GET', '/a')).body, { from: 'y' }, 'the first is down: the second, checked against the pin');
    assert.deepEqual(said, [`Server ${down} does not answer (ECONNREFUSED); trying ${y.url}.`]);
    const refused = await ApiClient.connect([wrong.url, y.url], { fingerprint });
    await assert.rejects(refused.request('GET', '/a'), (err: ClientError) => err.code === 'UNTRUSTED' && /does not match the fingerprint given/.test(err.message));
    assert.equal(wrong.hits, 0, 'nothing was sent to the server with the wrong certificate');
    assert.equal(y.hits, 1, 'and the client did not move on to the second server');
  });

  test('a download broken halfway resumes with Range on the next server when the first stops answering', async (t) => {
    const data = randomBytes(4 * 1024 * 1024);
    const sha256 = createHash('sha256').update(data).digest('hex');
    const etag = `"${sha256}"`;
    const half = data.length / 2;
    const ranges: (string | undefined)[] = [];
    let sentByY = 0;
    // The first server sends half the file, then breaks the connection and stops listening.
    const x: TestServer = await serve(cert, (_req, res) => {
      res.writeHead(200, { etag, 'content-length': String(data.length), 'accept-ranges': 'bytes' });
      res.write(data.subarray(0, half), () => { res.socket?.destroy(); void x.close(); });
    });
    const y = await serve(cert, (req, res) => {
      ranges.push(req.headers.range);
      const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
      if (req.headers['if-range'] !== etag || from === 0) { res.writeHead(200, { etag, 'content-length': String(data.length) }).end(data); sentByY += data.length; return; }
      res.writeHead(206, { etag, 'content-length': String(data.length - from), 'content-range': `bytes ${from}-${data.length - 1}/${data.length}` }).end(data.subarray(from));
      sentByY += data.length - from;
    });
    t.after(() => y.close());
    const said: string[] = [];
    const api = await client([x.url, y.url], said);
    const retries: string[] = [];
    const stream = streamContentFile(api, (fn) => fn('token'), { path: 'image.wim', size: data.length, sha256 }, { signal: new AbortController().signal, onRetry: (line) => retries.push(line) });
    const got = await buffer(stream);
    assert.equal(createHash('sha256').update(got).digest('hex'), sha256, 'the whole file, in order');
    assert.equal(retries.length, 1, retries.join('\n'));
    assert.equal(ranges.length, 1);
    assert.match(ranges[0] ?? '', /^bytes=\d+-$/);
    assert.ok(sentByY < data.length, `the second server sent only the rest (${sentByY} of ${data.length} bytes)`);
    assert.deepEqual(said, [`Server ${x.url} stopped answering (ECONNREFUSED); moving to ${y.url}.`]);
  });
});
