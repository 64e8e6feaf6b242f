// The service publishes the boot media under /Content/Boot/ without a token (Range, ETag, HEAD), and on the plain-HTTP boot port only those; media status and build's input errors.

import { strict as assert } from 'node:assert';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runDeployr, startService, tempHome, type ServiceProcess } from './helpers/deployr-process.js';
import { httpsJson } from './helpers/https-json.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address() as { port: number }; s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

/** A plain-HTTP GET: status, headers and body bytes. */
function httpGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject).end();
  });
}

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

describe('boot media publication', () => {
  const { home, cleanup } = tempHome('deployr-bootpub-');
  const media = join(home, 'media');
  const files: Record<string, Buffer> = {
    vmlinuz: Buffer.alloc(300_000, 7),
    initrd: Buffer.from(Array.from({ length: 500_000 }, (_, i) => i % 251)),
    'boot.ipxe': Buffer.from('#!ipxe\nkernel vmlinuz initrd=initrd\ninitrd initrd\nboot\n'),
    'deployr.iso': Buffer.alloc(200_000, 1),
  };
  let svc: ServiceProcess;
  let bootPort = 0;

  const writeManifest = (fingerprint: string): void => {
    writeFileSync(join(media, 'media.json'), JSON.stringify({
      format: 1, kind: 'linux', builtAt: new Date().toISOString(), deployrVersion: 'test', kernelVersion: 'test', nodeVersion: process.version,
      server: 'https://deployr.test:7281', fingerprint, consoles: ['tty0'], noprompt: false,
      initrd: { compression: 'zstd', uncompressedBytes: 1, modules: 0, firmware: 0 },
      files: Object.fromEntries(Object.entries(files).map(([k, v]) => [k, { size: v.length, sha256: sha256(v) }])),
    }));
  };

  before(async () => {
    bootPort = await freePort();
    svc = await startService({ home, args: ['--boot-http-port', String(bootPort)] });
    mkdirSync(media, { recursive: true });
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(media, name), bytes);
    writeManifest(new X509Certificate(readFileSync(svc.caFile)).fingerprint256);
  });

  after(async () => {
    await svc?.stop();
    cleanup();
  });

  test('GET /Content/Boot/* needs no token; Range, If-Range, ETag and HEAD work; nothing else in the media folder or home is served', async () => {
    const manifest = await httpsJson(`${svc.url}/Content/Boot/media.json`);
    assert.equal(manifest.status, 200, manifest.text);
    assert.equal((manifest.body as { files: Record<string, { sha256: string }> }).files.initrd?.sha256, sha256(files.initrd as Buffer));

    const ranged = await httpsJson(`${svc.url}/Content/Boot/initrd`, { headers: { range: 'bytes=1000-1999' } });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers['content-range'], `bytes 1000-1999/${(files.initrd as Buffer).length}`);
    assert.equal(ranged.headers['content-length'], '1000');
    const etag = ranged.headers.etag as string;
    assert.ok(etag, 'an ETag');
    const whole = await httpsJson(`${svc.url}/Content/Boot/vmlinuz`);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers['content-length'], String((files.vmlinuz as Buffer).length));
    assert.equal((await httpsJson(`${svc.url}/Content/Boot/initrd`, { headers: { 'if-none-match': etag } })).status, 304);
    assert.equal((await httpsJson(`${svc.url}/Content/Boot/initrd`, { headers: { range: 'bytes=0-9', 'if-range': '"other"' } })).status, 200, 'a stale If-Range gets the whole file');
    assert.equal((await httpsJson(`${svc.url}/Content/Boot/initrd`, { headers: { range: 'bytes=999999999-' } })).status, 416);
    const headed = await httpsJson(`${svc.url}/Content/Boot/deployr.iso`, { method: 'HEAD' });
    assert.equal(headed.status, 200);
    assert.equal(headed.headers['content-length'], String((files['deployr.iso'] as Buffer).length));
    writeFileSync(join(media, 'secret.txt'), 'not for anyone');
    for (const path of ['secret.txt', '..%2Fdeployr.db', '%2E%2E%2Ftls%2Fserver.key', 'media.json%00']) {
      const r = await httpsJson(`${svc.url}/Content/Boot/${path}`);
      assert.equal(r.status, 404, `${path}: ${r.status}`);
      assert.doesNotMatch(r.text, /not for anyone|PRIVATE KEY/);
    }
  });

  test('the plain-HTTP boot port serves the boot files and nothing else', async () => {
    const script = await httpGet(`http://127.0.0.1:${bootPort}/Content/Boot/boot.ipxe`);
    assert.equal(script.status, 200);
    assert.equal(script.body.toString('utf8'), (files['boot.ipxe'] as Buffer).toString('utf8'));
    const part = await httpGet(`http://127.0.0.1:${bootPort}/Content/Boot/initrd`, { range: 'bytes=10-19' });
    assert.equal(part.status, 206);
    assert.deepEqual(part.body, (files.initrd as Buffer).subarray(10, 20));
    for (const path of ['/v1/health', '/v1/auth/methods', '/v1/TaskSequences', '/v1/Service/Client']) {
      assert.equal((await httpGet(`http://127.0.0.1:${bootPort}${path}`)).status, 404, path);
    }
    assert.match(svc.output(), new RegExp(`Boot media:\\s+http://HOST:${bootPort}/Content/Boot/boot\\.ipxe`));
  });

  test('media status: published, intact and pinning the current certificate (exit 0); a changed file or another fingerprint is reported (exit 1)', async () => {
    const ok = await runDeployr(['media', 'status', '--local-port', String(svc.localPort)], { home });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /\/Content\/Boot\/initrd\s+[\d.]+ MiB\s+ok/);
    assert.match(ok.stdout, /matches the service's current certificate/);
    writeManifest('AA:'.repeat(31) + 'AA');
    const other = await runDeployr(['media', 'status', '--local-port', String(svc.localPort), '--json'], { home });
    assert.equal(other.code, 1);
    assert.equal((JSON.parse(other.stdout) as { matchesCertificate: boolean }).matchesCertificate, false);
    writeManifest(new X509Certificate(readFileSync(svc.caFile)).fingerprint256);
    writeFileSync(join(media, 'vmlinuz'), Buffer.alloc(10, 9));
    const changed = await runDeployr(['media', 'status', '--local-port', String(svc.localPort)], { home });
    assert.equal(changed.code, 1);
    assert.match(changed.stdout, /vmlinuz\s+[\d.]+ MiB\s+MISSING OR CHANGED/);
    writeFileSync(join(media, 'vmlinuz'), files.vmlinuz as Buffer);
  });

  test('media build: bad input and a missing tool are one-line errors naming what to do, and no media are written', async () => {
    const out = join(home, 'elsewhere');
    const http = await runDeployr(['media', 'build', '--out', out, '--server', 'http://x:1', '--fingerprint', 'AB'.repeat(32)], { home });
    assert.equal(http.code, 1);
    assert.match(http.stderr, /^error: --server must start with https:\/\/.*\[INVALID_INPUT\]\n$/);
    const fp = await runDeployr(['media', 'build', '--out', out, '--server', 'https://x:1', '--fingerprint', 'nope'], { home });
    assert.match(fp.stderr, /^error: the certificate fingerprint must be a SHA-256 one.*\n$/);
    const noTools = await runDeployr(['media', 'build', '--out', out, '--server', 'https://x:1', '--fingerprint', 'AB'.repeat(32)], { home, env: { PATH: '/nonexistent' } });
    assert.equal(noTools.code, 1);
    assert.match(noTools.stderr, /error: .* missing.*apt-get install (busybox-static|linux-image-amd64)/);
    assert.equal(noTools.stderr.trim().split('\n').filter((l) => l.startsWith('error:')).length, 1);
    assert.equal(existsSync(join(out, 'media.json')), false, 'no media were written');
  });
});
