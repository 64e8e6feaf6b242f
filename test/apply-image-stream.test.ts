// End to end: Apply image streams raw, gzip and zstd images from the real service onto a target file without the cache, resumes after a cut connection, and fails clearly on a damaged image or a full disk.

import { strict as assert } from 'node:assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { DEPLOYR_BIN, runDeployr, setPasscode, startService, tempHome, type CommandResult, type ServiceProcess } from './helpers/deployr-process.js';
import { step, taskSequence, type Json } from './helpers/task-sequence-json.js';

const PASSCODE = 'Quartz-Harbour-Lantern-7';
const APPLY_IMAGE = '00000002-0000-0000-0000-000000000002';
const MiB = 1024 * 1024;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A loopback TCP proxy to `port` that cuts the next `cuts` connections once they have carried `after` bytes towards the client. */
async function cuttingProxy(port: number): Promise<{ port: number; cut(after: number, cuts: number): void; cutsDone(): number; close(): Promise<void> }> {
  let budget = 0;
  let threshold = Infinity;
  let done = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((down) => {
    const up = connect(port, '127.0.0.1');
    sockets.add(down); sockets.add(up);
    let sent = 0;
    up.on('data', (d: Buffer) => {
      sent += d.length;
      if (budget > 0 && sent > threshold) { budget--; done++; down.destroy(); up.destroy(); return; }
      down.write(d);
    });
    down.on('data', (d: Buffer) => up.write(d));
    const close = (): void => { down.destroy(); up.destroy(); sockets.delete(down); sockets.delete(up); };
    up.on('error', close); down.on('error', close); up.on('close', close); down.on('close', close);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    cut: (after, cuts) => { threshold = after; budget = cuts; },
    cutsDone: () => done,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

describe('Apply image streamed from the server', () => {
  const { home, cleanup } = tempHome('deployr-stream-');
  const work = mkdtempSync(join(tmpdir(), 'deployr-stream-work-'));
  // A disk-like image: random data, a long run of zeros, then more random data (so that it compresses, but not to nothing).
  const image = Buffer.concat([randomBytes(6 * MiB), Buffer.alloc(10 * MiB), randomBytes(4 * MiB + 4321)]);
  const zstdThere = spawnSync('zstd', ['--version']).status === 0;
  let svc: ServiceProcess;
  let proxy: Awaited<ReturnType<typeof cuttingProxy>>;
  const ids: Record<string, string> = {};

  const cli = (args: string[]): Promise<CommandResult> => runDeployr(args, { home });
  const runIdOf = (r: CommandResult): string => {
    const id = /^Run ([0-9a-f-]{36}):/m.exec(r.stdout)?.[1];
    assert.ok(id, `no run id in:\n${r.stdout}\n${r.stderr}`);
    return id;
  };
  const client = (args: string[], stateDir: string, env: Record<string, string> = {}, server = svc.url): Promise<CommandResult> =>
    runDeployr(['client', '--server', server, '--ca', svc.caFile, '--state-dir', stateDir, ...args], { env: { DEPLOYR_VAR_Passcode: PASSCODE, ...env }, timeoutMs: 240_000 });

  async function importTs(name: string, target: string, contentId: string): Promise<string> {
    const ts: Json = taskSequence(name, [step('Apply', APPLY_IMAGE, { TargetDevice: target }, { contentItems: { Image: `${contentId}:1` } })]);
    const file = join(work, `${ts.id as string}.json`);
    writeFileSync(file, JSON.stringify(ts));
    const r = await cli(['ts', 'import', file]);
    assert.equal(r.code, 0, r.stderr);
    return ts.id as string;
  }

  async function createContent(name: string, path: string, extra: string[] = []): Promise<{ id: string; added: string }> {
    const created = await cli(['content', 'create', '--name', name, '--purpose', 'OperatingSystem', '--type', 'SingleFile']);
    assert.equal(created.code, 0, created.stderr);
    const id = /\(([0-9a-f-]{36})\)/.exec(created.stdout)?.[1];
    assert.ok(id, created.stdout);
    const added = await cli(['content', 'add-version', id, path, ...extra]);
    assert.equal(added.code, 0, added.stderr);
    assert.equal((await cli(['content', 'activate', id, '1'])).code, 0);
    return { id, added: added.stdout };
  }

  /** A sparse file of 64 MiB standing in for a disk. */
  function disk(name: string): string {
    const path = join(work, name);
    writeFileSync(path, '');
    truncateSync(path, 64 * MiB);
    return path;
  }

  /** The SHA-256 of the disk's first image-sized bytes, and whether the rest is still zeros and the size unchanged. */
  function checkDisk(path: string): void {
    const bytes = readFileSync(path);
    assert.equal(bytes.length, 64 * MiB, 'the disk keeps its size');
    assert.equal(sha256(bytes.subarray(0, image.length)), sha256(image), 'the image was written byte for byte');
    assert.ok(bytes.subarray(image.length).every((b) => b === 0), 'nothing was written past the image');
  }

  /** Files named by a SHA-256 (whole or partial) anywhere under `dir`: what a cached download would leave. */
  function cachedImages(dir: string): string[] {
    if (!existsSync(dir)) return [];
    return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /[0-9a-f]{64}/.test(f));
  }

  before(async () => {
    assert.equal((await setPasscode(home, PASSCODE)).code, 0);
    mkdirSync(join(work, 'src'));
    writeFileSync(join(work, 'src', 'disk.img'), image);
    writeFileSync(join(work, 'src', 'disk.img.gz'), gzipSync(image));
    const raw = await createContent('Raw image', join(work, 'src', 'disk.img'));
    ids.raw = raw.id;
    assert.match(raw.added, /format raw\./, 'a .img file is a raw image');
    const gz = await createContent('Gzip image', join(work, 'src', 'disk.img.gz'));
    ids.gzip = gz.id;
    assert.match(gz.added, /format raw\+gzip\./, 'a .gz file is a gzip-compressed raw image');
    if (zstdThere) {
      // Named .bin, so only --format says what it is.
      execFileSync('zstd', ['-q', '-3', join(work, 'src', 'disk.img'), '-o', join(work, 'src', 'disk.bin')]);
      const zst = await createContent('Zstd image', join(work, 'src', 'disk.bin'), ['--format', 'raw+zst']);
      ids.zstd = zst.id;
      assert.match(zst.added, /format raw\+zst\./);
    }
    writeFileSync(join(work, 'src', 'bad.img'), image);
    ids.bad = (await createContent('Damaged image', join(work, 'src', 'bad.img'))).id;
    svc = await startService({ home });
    proxy = await cuttingProxy(svc.port);
  });

  after(async () => {
    await proxy?.close();
    await svc?.stop();
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('content add-version --format is checked and shown; a Folder item takes no format', async () => {
    const shown = await cli(['content', 'show', ids.gzip as string]);
    assert.match(shown.stdout, /Format: raw\+gzip/);
    const bad = await cli(['content', 'add-version', ids.raw as string, join(work, 'src', 'disk.img'), '--format', 'raw+xz']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /The format "raw\+xz" is not known; use one of raw, raw\+gzip, raw\+zst\./);
    assert.equal(bad.stderr.trim().split('\n').length, 1, 'one line');
    assert.doesNotMatch((await cli(['content', 'show', ids.raw as string])).stdout, /Version 2/, 'nothing was added');
    const folder = await cli(['content', 'create', '--name', 'Folder of files', '--purpose', 'Other', '--type', 'Folder']);
    const folderId = /\(([0-9a-f-]{36})\)/.exec(folder.stdout)?.[1] as string;
    const refused = await cli(['content', 'add-version', folderId, join(work, 'src'), '--format', 'raw']);
    assert.match(refused.stderr, /A format describes a disk image, which is a SingleFile item; "Folder of files" is a Folder item\./);
  });

  test('raw and gzip images (and zstd, where the zstd program is installed) stream onto a disk without touching the cache', async (t) => {
    for (const kind of ['raw', 'gzip', 'zstd'] as const) {
      if (kind === 'zstd' && !zstdThere) { t.diagnostic('SKIPPED zstd: the zstd program is not installed (Debian package zstd)'); continue; }
      const target = disk(`${kind}.disk`);
      const tsId = await importTs(`Stream ${kind}`, target, ids[kind] as string);
      const state = join(work, `state-${kind}`);
      const r = await client(['--fullos', '--ts', `${tsId}:1`], state, { DEPLOYR_APPLY_STREAM: '1' });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /streamed from the server \(DEPLOYR_APPLY_STREAM is set\)/);
      assert.match(r.stdout, /%.*MiB \/ .*MiB, .*\/s, (done|.* left)/, 'progress with bytes, rate and time left');
      assert.match(r.stdout, kind === 'raw' ? /Wrote \d+ bytes to .*; SHA-256 [0-9a-f]{64} verified/ : /decompressed from \d+\) to .*SHA-256 [0-9a-f]{64}/);
      checkDisk(target);
      assert.deepEqual(cachedImages(state), [], 'nothing went into the cache');
    }
  });

  test('in a boot environment the image streams without being asked to; in a full OS with room it goes through the cache', async () => {
    const target = disk('boot.disk');
    const tsId = await importTs('Boot stream', target, ids.gzip as string);
    const state = join(work, 'state-boot');
    const r = await runDeployr(['client', '--server', svc.url, '--ca', svc.caFile, '--state-dir', state, '--ts', `${tsId}:1`], { input: `${PASSCODE}\n`, timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /streamed from the server \(boot environment: the system is in RAM\)/);
    checkDisk(target);
    assert.deepEqual(cachedImages(state), []);

    const cachedTarget = disk('cached.disk');
    const cachedTs = await importTs('Through the cache', cachedTarget, ids.gzip as string);
    const full = join(work, 'state-fullos');
    const c = await client(['--fullos', '--ts', `${cachedTs}:1`], full);
    assert.equal(c.code, 0, c.stdout + c.stderr);
    assert.match(c.stdout, /from the cache$/m);
    checkDisk(cachedTarget);
    assert.ok(cachedImages(full).length > 0, 'the image is in the cache');
  });

  test('a connection cut twice mid-stream resumes with Range at the exact byte and ends with the right bytes', async () => {
    const target = disk('resumed.disk');
    const tsId = await importTs('Cut stream', target, ids.gzip as string);
    proxy.cut(3 * MiB, 2);
    const r = await client(['--fullos', '--ts', `${tsId}:1`], join(work, 'state-cut'), { DEPLOYR_APPLY_STREAM: '1' }, `https://127.0.0.1:${proxy.port}`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(proxy.cutsDone(), 2, 'the proxy cut two connections');
    assert.equal((r.stdout.match(/The connection broke after \d+ of \d+ bytes \(.+\); resuming at byte \d+ in \d+ s/g) ?? []).length, 2, r.stdout);
    checkDisk(target);
  });

  test('a damaged image fails the run with one clear line, after being written', async () => {
    // The library's copy is damaged after it was added, so its bytes no longer match the hash the server lists.
    const meta = JSON.parse((await cli(['content', 'show', ids.bad as string, '--json'])).stdout) as { versions: { files: { sha256: string }[] }[] };
    const hash = meta.versions[0]?.files[0]?.sha256 as string;
    const blob = join(home, 'content', 'blobs', hash.slice(0, 2), hash);
    const bytes = readFileSync(blob);
    bytes[5 * MiB] = (bytes[5 * MiB] as number) ^ 0x01;
    writeFileSync(blob, bytes);
    const target = disk('damaged.disk');
    const tsId = await importTs('Damaged', target, ids.bad as string);
    const r = await client(['--fullos', '--ts', `${tsId}:1`], join(work, 'state-bad'), { DEPLOYR_APPLY_STREAM: '1' });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`"Apply" failed: the image's SHA-256 does not match \\(got [0-9a-f]{64}, expected ${hash}\\); the target is not usable`));
    const show = await cli(['runs', 'show', runIdOf(r)]);
    assert.match(show.stdout, /x Apply {2}\(failed.*the image's SHA-256 does not match/);
  });

  test('a disk that fills up mid-write fails with one clear line and harms nothing else', async (t) => {
    const dir = join(work, 'small');
    mkdirSync(dir);
    // A real 8 MiB file system when this runs as root and may mount one; otherwise a file size limit (RLIMIT_FSIZE) on the client.
    const mounted = process.getuid?.() === 0 && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir]).status === 0;
    t.diagnostic(mounted ? 'an 8 MiB tmpfs' : 'ulimit -f (8 MiB) on the client');
    try {
      writeFileSync(join(dir, 'keep.txt'), 'other data\n');
      const target = join(dir, 'target.img');
      const tsId = await importTs('Full disk', target, ids.raw as string);
      const state = join(work, 'state-full');
      const args = [DEPLOYR_BIN, 'client', '--server', svc.url, '--ca', svc.caFile, '--state-dir', state, '--fullos', '--ts', `${tsId}:1`];
      const r = await new Promise<CommandResult>((resolve) => {
        const child = mounted
          ? spawn(process.execPath, args, { env: { ...process.env, DEPLOYR_VAR_Passcode: PASSCODE, DEPLOYR_APPLY_STREAM: '1' } })
          : spawn('sh', ['-c', 'ulimit -f 16384; exec "$0" "$@"', process.execPath, ...args], { env: { ...process.env, DEPLOYR_VAR_Passcode: PASSCODE, DEPLOYR_APPLY_STREAM: '1' } });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stdout, /"Apply" failed: the target .*target\.img is full after \d+ bytes were written \((ENOSPC|EFBIG)\): it is smaller than the image; the target is not usable/);
      assert.equal(readFileSync(join(dir, 'keep.txt'), 'utf8'), 'other data\n', 'other files on that disk are intact');
      const show = await cli(['runs', 'show', runIdOf(r)]);
      assert.match(show.stdout, /is full after \d+ bytes were written/, 'the run and its reason reached the server');
      assert.ok(statSync(target).size < image.length, 'the image did not fit');
    } finally {
      if (mounted) spawnSync('umount', [dir]);
    }
  });
});
