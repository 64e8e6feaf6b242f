// The fixture of the Apply image streaming tests: a service holding raw, gzip, zstd and damaged images, a loopback proxy that cuts connections, sparse files standing in for disks.

import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before } from 'node:test';
import { runDeployr, setPasscode, startService, tempHome, type CommandResult, type ServiceProcess } from './deployr-process.js';
import { step, taskSequence, type Json } from './task-sequence-json.js';

export const PASSCODE = 'Quartz-Harbour-Lantern-7';
export const APPLY_IMAGE = '00000002-0000-0000-0000-000000000002';
export const MiB = 1024 * 1024;

/** SHA-256 in hex. */
export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A loopback TCP proxy to `port` that cuts the next `cuts` connections once they have carried `after` bytes towards the client. */
export async function cuttingProxy(port: number): Promise<{ port: number; cut(after: number, cuts: number): void; cutsDone(): number; close(): Promise<void> }> {
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

/** What the tests use: the service, the proxy, the content ids and helpers to run the client and check a disk. */
export type StreamFixture = ReturnType<typeof useStreamFixture>;

/** Sets up (before) and removes (after) the service, the content items named in `kinds` and the proxy for the tests of one describe block. */
export function useStreamFixture(kinds: readonly ('zstd' | 'bad')[] = []) {
  const { home, cleanup } = tempHome('deployr-stream-');
  const work = mkdtempSync(join(tmpdir(), 'deployr-stream-work-'));
  // A disk-like image: random data, a long run of zeros, then more random data (so that it compresses, but not to nothing).
  const image = Buffer.concat([randomBytes(4 * MiB), Buffer.alloc(6 * MiB), randomBytes(2 * MiB + 4321)]);
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
    if (zstdThere && kinds.includes('zstd')) {
      // Named .bin, so only --format says what it is.
      execFileSync('zstd', ['-q', '-3', join(work, 'src', 'disk.img'), '-o', join(work, 'src', 'disk.bin')]);
      const zst = await createContent('Zstd image', join(work, 'src', 'disk.bin'), ['--format', 'raw+zst']);
      ids.zstd = zst.id;
      assert.match(zst.added, /format raw\+zst\./);
    }
    if (kinds.includes('bad')) {
      writeFileSync(join(work, 'src', 'bad.img'), image);
      ids.bad = (await createContent('Damaged image', join(work, 'src', 'bad.img'))).id;
    }
    svc = await startService({ home });
    proxy = await cuttingProxy(svc.port);
  });

  after(async () => {
    await proxy?.close();
    await svc?.stop();
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  return {
    home, work, image, ids,
    get zstdThere(): boolean { return zstdThere; },
    svc: (): ServiceProcess => svc,
    proxy: (): Awaited<ReturnType<typeof cuttingProxy>> => proxy,
    cli, client, runIdOf, importTs, disk, checkDisk, cachedImages,
  };
}
