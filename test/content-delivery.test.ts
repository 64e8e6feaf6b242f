// Content delivery end to end: the CLI adds and activates versions, the real service serves files by hash (Range, ETag), the client fetches, resumes, verifies and caches.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ApiClient, ClientError } from '../src/client/api-client.js';
import { fetchContentVersion, type DownloadProgress } from '../src/client/content-download.js';
import { parseRange } from '../src/server/routes/content-items.js';
import { runDeployr, startService, tempHome, waitFor, type ServiceProcess } from './helpers/deployr-process.js';
import { httpsJson } from './helpers/https-json.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A raw HTTPS request whose body is kept as bytes; `path` is sent exactly as given. */
function httpsRaw(base: string, path: string, options: { method?: string; headers?: Record<string, string>; ca: string }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: options.method ?? 'GET', headers: options.headers ?? {}, ca: options.ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A loopback TCP relay in front of the service that counts the bytes sent to the client and can cut or stall them. */
class Relay {
  server: Server;
  port = 0;
  downstream = 0;
  private mode: { kind: 'pass' } | { kind: 'cut' | 'stall'; after: number } = { kind: 'pass' };
  private readonly sockets = new Set<Socket>();
  stalled = false;

  constructor(private readonly target: number) {
    this.server = createServer((client) => {
      const upstream = connect(this.target, '127.0.0.1');
      this.sockets.add(client).add(upstream);
      client.on('close', () => { this.sockets.delete(client); upstream.destroy(); });
      upstream.on('close', () => { this.sockets.delete(upstream); client.destroy(); });
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
      client.pipe(upstream);
      upstream.on('data', (chunk: Buffer) => {
        if (this.mode.kind !== 'pass' && this.downstream + chunk.length > this.mode.after) {
          if (this.mode.kind === 'cut') { this.mode = { kind: 'pass' }; client.destroy(); upstream.destroy(); return; }
          this.stalled = true;
          upstream.pause();
          return;
        }
        this.downstream += chunk.length;
        if (!client.write(chunk)) { upstream.pause(); client.once('drain', () => upstream.resume()); }
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Counts from zero again, with a new mode. */
  reset(mode: Relay['mode'] = { kind: 'pass' }): void {
    this.downstream = 0;
    this.stalled = false;
    this.mode = mode;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

describe('content delivery', () => {
  const { home, cleanup } = tempHome('deployr-content-');
  const work = mkdtempSync(join(tmpdir(), 'deployr-content-client-'));
  let service: ServiceProcess;
  let ca: string;
  let token: string;
  let api: ApiClient;
  let relay: Relay;
  let relayApi: ApiClient;
  const ids = { apps: '', big: '', victim: '' };
  const data = {
    small: Buffer.from('hello, deployr\n'),
    folderBin: randomBytes(3 * 1024 * 1024),
    folderBinV2: randomBytes(1024 * 1024),
    big: randomBytes(33 * 1024 * 1024), // over the size hashed by a worker thread
    victim: randomBytes(1024 * 1024),
  };

  async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return runDeployr(args, { home });
  }

  async function createItem(name: string, purpose: string, type: string): Promise<string> {
    const r = await cli(['content', 'create', '--name', name, '--purpose', purpose, '--type', type]);
    assert.equal(r.code, 0, r.stderr);
    const id = /\(([0-9a-f-]{36})\)/.exec(r.stdout)?.[1];
    assert.ok(id, r.stdout);
    return id;
  }

  /** How many file requests the service has logged so far (after its log has caught up). */
  async function blobRequests(): Promise<number> {
    await new Promise((r) => setTimeout(r, 300));
    return service.output().split('\n').filter((l) => l.includes('"msg":"incoming request"') && l.includes('"url":"/v1/content/')).length;
  }

  function dirs(name: string): { cacheDir: string; workDir: string } {
    return { cacheDir: join(work, name, 'cache'), workDir: join(work, name, 'work') };
  }

  before(async () => {
    const src = join(work, 'src');
    mkdirSync(join(src, 'apps', 'sub'), { recursive: true });
    writeFileSync(join(src, 'apps', 'readme.txt'), data.small);
    writeFileSync(join(src, 'apps', 'sub', 'setup.bin'), data.folderBin);
    symlinkSync('readme.txt', join(src, 'apps', 'link-inside.txt'));
    mkdirSync(join(src, 'apps-v2'));
    writeFileSync(join(src, 'apps-v2', 'setup.bin'), data.folderBinV2);
    writeFileSync(join(src, 'big.bin'), data.big);
    writeFileSync(join(src, 'victim.bin'), data.victim);

    assert.equal((await cli(['configure', 'security', '--bypass', 'on'])).code, 0);
    ids.apps = await createItem('Apps', 'Application', 'Folder');
    ids.big = await createItem('Big', 'OperatingSystem', 'SingleFile');
    ids.victim = await createItem('Victim', 'Other', 'SingleFile');
    for (const [id, path, extra] of [
      [ids.apps, join(src, 'apps'), ['--install-command', 'setup.bin /quiet', '--description', 'first']],
      [ids.big, join(src, 'big.bin'), []],
      [ids.victim, join(src, 'victim.bin'), []],
    ] as const) {
      const r = await cli(['content', 'add-version', id, path, ...extra]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Added version 1: .*inactive; activate it with: deployr content activate/);
      assert.equal((await cli(['content', 'activate', id, '1'])).code, 0);
    }
    const v2 = await cli(['content', 'add-version', ids.apps, join(src, 'apps-v2'), '--description', 'second']);
    assert.equal(v2.code, 0, v2.stderr);

    service = await startService({ home });
    ca = readFileSync(service.caFile, 'utf8');
    const login = await httpsJson(`${service.url}/v1/auth/anonymous`, { body: {}, ca });
    assert.equal(login.status, 200, login.text);
    token = (login.body as { token: string }).token;
    api = await ApiClient.connect(service.url, { caPem: ca });
    relay = new Relay(service.port);
    await relay.listen();
    relayApi = await ApiClient.connect(`https://127.0.0.1:${relay.port}`, { caPem: ca });
  });

  after(async () => {
    await relay?.close();
    await service?.stop();
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('the CLI adds versions (inactive), activates them, shows files, and refuses bad sources', async () => {
    const show = await cli(['content', 'show', ids.apps]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /Version 1 {2}Active {2}3 files/);
    assert.match(show.stdout, /Version 2 {2}Inactive {2}1 file,/);
    assert.match(show.stdout, /Install command: setup\.bin \/quiet/);
    assert.ok(show.stdout.includes(`${sha256(data.folderBin)}`) && show.stdout.includes('sub/setup.bin') && show.stdout.includes('link-inside.txt'));
    const list = await cli(['content', 'list']);
    assert.match(list.stdout, /Apps {2}Application\/Folder {2}\[v1 Active, v2 Inactive\]/);

    const outside = join(work, 'outside');
    mkdirSync(outside);
    writeFileSync(join(work, 'secret.txt'), 'secret');
    symlinkSync(join(work, 'secret.txt'), join(outside, 'escape.txt'));
    const escape = await cli(['content', 'add-version', ids.apps, outside]);
    assert.equal(escape.code, 1);
    assert.match(escape.stderr, /symbolic link escape\.txt points outside the folder/);
    const single = await cli(['content', 'add-version', ids.big, join(work, 'src', 'apps')]);
    assert.equal(single.code, 1);
    assert.match(single.stderr, /SingleFile item: give one file/);
    const folder = await cli(['content', 'add-version', ids.apps, join(work, 'src', 'big.bin')]);
    assert.match(folder.stderr, /Folder item: give a folder/);
    const missing = await cli(['content', 'activate', ids.apps, '9']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /has no version 9\. \[NOT_FOUND\]/);
    const audit = await cli(['audit', '--kind', 'content']);
    assert.match(audit.stdout, /add-version/);
    assert.match(audit.stdout, /activate/);
  });

  test('an inactive version is not served as the active one, and the client refuses it', async () => {
    const active = await httpsJson(`${service.url}/v1/content-items/${ids.apps}/versions/active`, { token, ca });
    assert.equal(active.status, 200);
    assert.equal((active.body as { versionNo: number }).versionNo, 1);
    const v2 = await httpsJson(`${service.url}/v1/content-items/${ids.apps}/versions/2`, { token, ca });
    assert.equal((v2.body as { status: string }).status, 'Inactive');
    await assert.rejects(fetchContentVersion(api, token, `${ids.apps}:2`, dirs('inactive')), (err: Error) => err instanceof ClientError && /version 2 is not active/.test(err.message));
    const got = await fetchContentVersion(api, token, ids.apps, dirs('inactive'));
    assert.equal(got.versionNo, 1);
    assert.equal(got.installationCommandLine, 'setup.bin /quiet');
    assert.deepEqual(got.files.map((f) => f.path), ['link-inside.txt', 'readme.txt', 'sub/setup.bin']);
    assert.deepEqual(readFileSync(join(got.dir, 'sub', 'setup.bin')), data.folderBin);
    assert.deepEqual(readFileSync(join(got.dir, 'link-inside.txt')), data.small);
    assert.equal((await httpsJson(`${service.url}/v1/content-items/${ids.apps}/versions/7`, { token, ca })).status, 404);
    assert.equal((await httpsJson(`${service.url}/v1/content-items/${ids.apps}/versions/active`, { ca })).status, 401);
  });

  test('files are served with ETag, Range (206/416), If-Range, If-None-Match (304) and HEAD', async () => {
    const hash = sha256(data.big);
    const path = `/v1/content/${hash}`;
    const auth = { authorization: `Bearer ${token}` };
    const full = await httpsRaw(service.url, path, { headers: auth, ca });
    assert.equal(full.status, 200);
    assert.equal(full.headers.etag, `"${hash}"`);
    assert.equal(full.headers['accept-ranges'], 'bytes');
    assert.equal(full.headers['content-length'], String(data.big.length));
    assert.equal(sha256(full.body), hash);

    const part = await httpsRaw(service.url, path, { headers: { ...auth, range: 'bytes=1000-1999' }, ca });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], `bytes 1000-1999/${data.big.length}`);
    assert.deepEqual(part.body, data.big.subarray(1000, 2000));
    const suffix = await httpsRaw(service.url, path, { headers: { ...auth, range: 'bytes=-10' }, ca });
    assert.deepEqual(suffix.body, data.big.subarray(data.big.length - 10));
    const beyond = await httpsRaw(service.url, path, { headers: { ...auth, range: `bytes=${data.big.length}-` }, ca });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers['content-range'], `bytes */${data.big.length}`);
    const ifRange = await httpsRaw(service.url, path, { headers: { ...auth, range: 'bytes=10-', 'if-range': '"0000"' }, ca });
    assert.equal(ifRange.status, 200);
    assert.equal(ifRange.body.length, data.big.length);
    const ifRangeOk = await httpsRaw(service.url, path, { headers: { ...auth, range: 'bytes=10-', 'if-range': `"${hash}"` }, ca });
    assert.equal(ifRangeOk.status, 206);
    const notModified = await httpsRaw(service.url, path, { headers: { ...auth, 'if-none-match': `"${hash}"` }, ca });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.body.length, 0);
    const head = await httpsRaw(service.url, path, { method: 'HEAD', headers: auth, ca });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(data.big.length));
    assert.equal(head.body.length, 0);

    assert.equal((await httpsRaw(service.url, path, { ca })).status, 401);
    assert.equal((await httpsRaw(service.url, `/v1/content/${sha256(Buffer.from('not in any version'))}`, { headers: auth, ca })).status, 404);
  });

  test('different files and ranges sent at the same time over TLS each arrive byte for byte (the service reuses its send buffers)', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const asked = [
      { file: data.big, range: null },
      { file: data.folderBin, range: null },
      { file: data.victim, range: null },
      { file: data.big, range: [5 * 1024 * 1024 + 3, 9 * 1024 * 1024 + 7] as const },
      { file: data.folderBin, range: [1024 * 1024 - 1, 2 * 1024 * 1024] as const },
      { file: data.big, range: null },
    ];
    for (let round = 0; round < 2; round++) {
      const answers = await Promise.all(asked.map(({ file, range }) => httpsRaw(service.url, `/v1/content/${sha256(file)}`, {
        headers: range ? { ...auth, range: `bytes=${range[0]}-${range[1]}` } : auth, ca,
      })));
      for (const [i, answer] of answers.entries()) {
        const { file, range } = asked[i]!;
        const expected = range ? file.subarray(range[0], range[1] + 1) : file;
        assert.equal(answer.status, range ? 206 : 200);
        assert.ok(answer.body.equals(expected), `round ${round}, request ${i}: the body differs from the file`);
      }
    }
  });

  test('a client that stops reading a download is disconnected after the idle timeout (DEPLOYR_IDLE_TIMEOUT_MS)', async () => {
    const strict = await startService({ home, env: { DEPLOYR_IDLE_TIMEOUT_MS: '500' } });
    try {
      const outcome = await new Promise<{ received: number; complete: boolean }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: strict.port, path: `/v1/content/${sha256(data.big)}`, headers: { authorization: `Bearer ${token}` }, ca, servername: 'localhost', agent: false }, (res) => {
          let received = 0;
          res.on('data', (c: Buffer) => { received += c.length; });
          res.once('data', () => {
            // Stop reading for six idle timeouts: the kernel buffers fill up and the service can write nothing more.
            res.pause();
            setTimeout(() => res.resume(), 3000);
          });
          res.on('close', () => resolve({ received, complete: res.complete }));
          res.on('error', () => undefined);
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(outcome.complete, false, 'the service closed the stalled connection instead of waiting for ever');
      assert.ok(outcome.received < data.big.length, `received ${outcome.received} of ${data.big.length} bytes`);
      // The same download, read without pausing, is complete: the timeout only ends connections where nothing moves.
      const whole = await httpsRaw(`https://localhost:${strict.port}`, `/v1/content/${sha256(data.big)}`, { headers: { authorization: `Bearer ${token}` }, ca });
      assert.equal(sha256(whole.body), sha256(data.big));
    } finally {
      await strict.stop();
    }
  });

  test('a request trickled in is cut off after DEPLOYR_REQUEST_TIMEOUT_MS; a download that takes longer is not', async () => {
    const strict = await startService({ home, env: { DEPLOYR_REQUEST_TIMEOUT_MS: '1000' } });
    try {
      // One byte of a 200-byte login body every 100 ms: never idle, but the request would take 20 s.
      const started = Date.now();
      const trickled = await new Promise<{ status: number; body: string; sentBytes: number }>((resolve) => {
        const req = request({ host: '127.0.0.1', port: strict.port, path: '/v1/auth/passcode', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '200' }, ca, servername: 'localhost', agent: false }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString('utf8')));
          res.on('end', () => { clearInterval(timer); clearTimeout(giveUp); resolve({ status: res.statusCode ?? 0, body: text, sentBytes }); });
        });
        let sentBytes = 0;
        const timer = setInterval(() => { if (sentBytes < 199) { req.write(' '); sentBytes += 1; } }, 100);
        // Without the limit the service would wait for ever: give up after 5 s (status 0).
        const giveUp = setTimeout(() => req.destroy(), 5000);
        const ended = (): void => { clearInterval(timer); clearTimeout(giveUp); resolve({ status: 0, body: '', sentBytes }); };
        req.on('error', ended);
        req.on('close', ended);
      });
      assert.equal(trickled.status, 408, 'the service answers 408 Request Timeout');
      assert.equal((JSON.parse(trickled.body) as { error: { code: string } }).error.code, 'REQUEST_TIMEOUT', trickled.body);
      assert.ok(trickled.sentBytes < 60, `cut off after ${trickled.sentBytes} bytes, ${Date.now() - started} ms`);
      // A download held up by the reader for twice the request limit still completes: only the request is timed.
      const slow = await new Promise<Buffer>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: strict.port, path: `/v1/content/${sha256(data.big)}`, headers: { authorization: `Bearer ${token}` }, ca, servername: 'localhost', agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.once('data', () => { res.pause(); setTimeout(() => res.resume(), 2000); });
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(sha256(slow), sha256(data.big));
    } finally {
      await strict.stop();
    }
  });

  test('path traversal and malformed hashes get 4xx', async () => {
    const auth = { authorization: `Bearer ${token}` };
    for (const path of [
      '/v1/content/..%2F..%2Fdeployr.db', '/v1/content/../deployr.db', '/v1/content/%2e%2e%2faudit.key', '/v1/content/not-a-hash',
      `/v1/content/${'a'.repeat(63)}`, `/v1/content/${'g'.repeat(64)}`, `/v1/content/${'a'.repeat(64)}%00`,
      `/v1/content-items/${ids.apps}/versions/..%2F..%2F`, `/v1/content-items/${ids.apps}/versions/0`, '/v1/content/blobs/../../deployr.db',
    ]) {
      const r = await httpsRaw(service.url, path, { headers: auth, ca });
      assert.ok(r.status >= 400 && r.status < 500, `${path} answered ${r.status}`);
      assert.ok(!r.body.toString('latin1').includes('SQLite format'), path);
    }
    assert.deepEqual(parseRange('bytes=0-0', 10), { start: 0, end: 0 });
    assert.deepEqual(parseRange('bytes=5-100', 10), { start: 5, end: 9 });
    assert.deepEqual(parseRange('bytes=-3', 10), { start: 7, end: 9 });
    assert.equal(parseRange('bytes=10-', 10), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-1,3-4', 10), null);
    assert.equal(parseRange('items=0-1', 10), null);
    assert.equal(parseRange('bytes=5-2', 10), null);
  });

  test('a cut connection is resumed from the partial file within the same fetch', async () => {
    const size = data.big.length;
    relay.reset({ kind: 'cut', after: 8 * 1024 * 1024 });
    const started = Date.now();
    const got = await fetchContentVersion(relayApi, token, `${ids.big}:1`, dirs('cut'));
    assert.ok(Date.now() - started >= 900, 'retried after a pause');
    assert.equal(sha256(readFileSync(got.files[0]!.localPath)), sha256(data.big));
    // Resumed, not restarted: about one file's worth of bytes crossed the relay in all (a restart would add the 8 MiB again;
    // what was in flight in socket buffers when the connection was cut, TLS and headers add a little).
    assert.ok(relay.downstream < size + 4 * 1024 * 1024, `${relay.downstream} bytes for a ${size}-byte file`);
    assert.ok(!existsSync(join(dirs('cut').cacheDir, `${sha256(data.big)}.partial`)));
  });

  test('a cancelled download leaves a partial file that the next fetch continues', async () => {
    const { cacheDir, workDir } = dirs('abort');
    const hash = sha256(data.big);
    const partial = join(cacheDir, `${hash}.partial`);
    relay.reset({ kind: 'stall', after: 6 * 1024 * 1024 });
    const controller = new AbortController();
    const pending = fetchContentVersion(relayApi, token, ids.big, { cacheDir, workDir, signal: controller.signal });
    const deadline = Date.now() + 10_000;
    while (!(relay.stalled && existsSync(partial) && statSync(partial).size > 4 * 1024 * 1024)) {
      assert.ok(Date.now() < deadline, 'the download did not progress');
      await new Promise((r) => setTimeout(r, 20));
    }
    controller.abort();
    await assert.rejects(pending, (err: Error) => err.name === 'AbortError');
    assert.ok(!existsSync(join(cacheDir, hash)), 'nothing under the final name');
    const kept = statSync(partial).size;
    assert.ok(kept > 4 * 1024 * 1024 && kept < data.big.length);

    relay.reset();
    const seen: DownloadProgress[] = [];
    const got = await fetchContentVersion(relayApi, token, ids.big, { cacheDir, workDir, onProgress: (p) => seen.push(p) });
    assert.equal(sha256(readFileSync(got.files[0]!.localPath)), hash);
    assert.equal(seen[0]?.received, kept, 'the first progress report counts the partial file');
    assert.equal(seen.at(-1)?.received, data.big.length);
    assert.ok(relay.downstream < data.big.length - kept + 256 * 1024, `${relay.downstream} bytes crossed the relay to finish ${data.big.length - kept}`);
    assert.ok(!existsSync(partial));
  });

  test('two clients sharing one cache folder: the second waits while the first downloads, and takes over when the first dies', async () => {
    const d = dirs('shared');
    const child = fileURLToPath(new URL('./helpers/fetch-child.js', import.meta.url));
    const fetchIn = (server: string, workDir: string) => {
      const p = spawn(process.execPath, [child, server, service.caFile, token, `${ids.big}:1`, d.cacheDir, workDir], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
      return { p, exited, out: () => stdout, err: () => stderr };
    };
    relay.reset({ kind: 'stall', after: 8 * 1024 * 1024 });
    const first = fetchIn(`https://127.0.0.1:${relay.port}`, join(work, 'shared', 'work-a'));
    try {
      await waitFor(() => relay.stalled, 15_000, 'the first client to be halfway');
      const before = await blobRequests();
      const second = fetchIn(service.url, join(work, 'shared', 'work-b'));
      let secondDone = false;
      void second.exited.then(() => (secondDone = true));
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(secondDone, false, `the second client waits while the first holds the file (${second.err()})`);
      assert.match(second.err(), /big\.bin: waiting for another client that is downloading it into this cache/, 'and says so on its progress line');
      assert.equal(await blobRequests(), before, 'and requests nothing meanwhile');
      first.p.kill('SIGKILL');
      await first.exited;
      relay.reset();
      assert.equal(await second.exited, 0, second.err());
      const got = JSON.parse(second.out()) as { files: { sha256: string; localPath: string }[] };
      assert.equal(got.files[0]?.sha256, sha256(data.big));
      assert.equal(sha256(readFileSync(got.files[0]?.localPath as string)), sha256(data.big), 'the file the second client placed is whole and right');
      assert.equal(await blobRequests(), before + 1, 'the second client continued the dead one\'s partial download with one request');
      assert.deepEqual(readdirSync(d.cacheDir), [sha256(data.big)], 'no lock or partial file is left in the cache');
    } finally {
      first.p.kill('SIGKILL');
      relay.reset();
    }
  });

  test('the second fetch downloads nothing; a damaged cache file is fetched again', async () => {
    const d = dirs('cache');
    const first = await fetchContentVersion(api, token, ids.apps, d);
    const before = await blobRequests();
    const second = await fetchContentVersion(api, token, ids.apps, d);
    assert.equal(await blobRequests(), before, 'no file requests the second time');
    assert.deepEqual(second.files.map((f) => f.sha256), first.files.map((f) => f.sha256));
    assert.deepEqual(readFileSync(join(second.dir, 'sub', 'setup.bin')), data.folderBin);

    const cached = join(d.cacheDir, sha256(data.folderBin));
    chmodSync(cached, 0o644);
    writeFileSync(cached, randomBytes(data.folderBin.length));
    const third = await fetchContentVersion(api, token, ids.apps, d);
    assert.equal(await blobRequests(), before + 1, 'only the damaged file is fetched again');
    assert.deepEqual(readFileSync(join(third.dir, 'sub', 'setup.bin')), data.folderBin);
  });

  test('a file damaged on the server fails verification with a clear error and leaves nothing under its name', async () => {
    const hash = sha256(data.victim);
    const blob = join(home, 'content', 'blobs', hash.slice(0, 2), hash);
    const damaged = Buffer.from(data.victim);
    damaged[damaged.length - 1] = (damaged[damaged.length - 1] ?? 0) ^ 0xff;
    writeFileSync(blob, damaged);
    const { cacheDir, workDir } = dirs('damaged');
    await assert.rejects(fetchContentVersion(api, token, ids.victim, { cacheDir, workDir }), (err: Error) => {
      assert.ok(err instanceof ClientError);
      assert.match(err.message, /^Content file victim\.bin failed verification: its SHA-256 does not match [0-9a-f]{64} \(the download was deleted\)\.$/);
      return true;
    });
    assert.ok(!existsSync(join(cacheDir, hash)));
    assert.ok(!existsSync(join(cacheDir, `${hash}.partial`)));
    assert.ok(!existsSync(join(workDir, ids.victim)));
  });

  test('a full disk stops with a clear error and never presents a partial file as good', async (t) => {
    const mnt = mkdtempSync(join(tmpdir(), 'deployr-tmpfs-'));
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
    if (mounted.status !== 0) {
      rmSync(mnt, { recursive: true, force: true });
      t.skip(`cannot mount a small tmpfs (needs root): ${mounted.stderr.toString().trim() || 'mount failed'}`);
      return;
    }
    t.after(() => { spawnSync('umount', [mnt]); rmSync(mnt, { recursive: true, force: true }); });

    // Too big from the start: refused before writing anything.
    const big = { cacheDir: join(mnt, 'a', 'cache'), workDir: join(mnt, 'a', 'work') };
    await assert.rejects(fetchContentVersion(api, token, ids.big, big), (err: Error) => {
      assert.equal(err.message, `Not enough disk space to download big.bin (${data.big.length} bytes needed)`);
      return true;
    });
    assert.ok(!existsSync(join(big.cacheDir, sha256(data.big))));

    // Space runs out while writing: something else fills the disk once the download has started.
    const d = { cacheDir: join(mnt, 'b', 'cache'), workDir: join(mnt, 'b', 'work') };
    const victim = await createItem('Disk', 'Other', 'SingleFile');
    const src = join(work, 'disk.bin');
    const bytes = randomBytes(1536 * 1024);
    writeFileSync(src, bytes);
    assert.equal((await cli(['content', 'add-version', victim, src])).code, 0);
    assert.equal((await cli(['content', 'activate', victim, '1'])).code, 0);
    let filled = false;
    await assert.rejects(fetchContentVersion(api, token, victim, {
      ...d,
      onProgress: () => {
        if (filled) return;
        filled = true;
        const fs = statfsSync(mnt);
        try { writeFileSync(join(mnt, 'filler'), Buffer.alloc(Math.max(0, fs.bavail * fs.bsize - 256 * 1024))); } catch { /* full already */ }
      },
    }), (err: Error) => {
      assert.match(err.message, /^Not enough disk space to download disk\.bin \(\d+ bytes needed\)$/);
      return true;
    });
    assert.ok(!existsSync(join(d.cacheDir, sha256(bytes))), 'nothing under the final name');
    assert.ok(existsSync(join(d.cacheDir, `${sha256(bytes)}.partial`)), 'the partial download stays as .partial');
  });
});
