// End to end: Apply image's stream resumes with Range after a cut connection, and fails with one clear line on a damaged image or a full disk, harming nothing else.

import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DEPLOYR_BIN, type CommandResult } from './helpers/deployr-process.js';
import { MiB, PASSCODE, useStreamFixture } from './helpers/image-stream-fixture.js';

describe('Apply image streamed from the server: breaks and failures', () => {
  const f = useStreamFixture(['bad']);

  test('a connection cut twice mid-stream resumes with Range at the exact byte and ends with the right bytes', async () => {
    const target = f.disk('resumed.disk');
    const tsId = await f.importTs('Cut stream', target, f.ids.gzip as string);
    f.proxy().cut(2 * MiB, 2);
    const r = await f.client(['--fullos', '--ts', `${tsId}:1`], join(f.work, 'state-cut'), { DEPLOYR_APPLY_STREAM: '1' }, `https://127.0.0.1:${f.proxy().port}`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(f.proxy().cutsDone(), 2, 'the proxy cut two connections');
    assert.equal((r.stdout.match(/The connection broke after \d+ of \d+ bytes \(.+\); resuming at byte \d+ in \d+ s/g) ?? []).length, 2, r.stdout);
    f.checkDisk(target);
  });

  test('a damaged image fails the run with one clear line, after being written', async () => {
    // The library's copy is damaged after it was added, so its bytes no longer match the hash the server lists.
    const meta = JSON.parse((await f.cli(['content', 'show', f.ids.bad as string, '--json'])).stdout) as { versions: { files: { sha256: string }[] }[] };
    const hash = meta.versions[0]?.files[0]?.sha256 as string;
    const blob = join(f.home, 'content', 'blobs', hash.slice(0, 2), hash);
    const bytes = readFileSync(blob);
    bytes[5 * MiB] = (bytes[5 * MiB] as number) ^ 0x01;
    writeFileSync(blob, bytes);
    const target = f.disk('damaged.disk');
    const tsId = await f.importTs('Damaged', target, f.ids.bad as string);
    const r = await f.client(['--fullos', '--ts', `${tsId}:1`], join(f.work, 'state-bad'), { DEPLOYR_APPLY_STREAM: '1' });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`at step "Apply": the image's SHA-256 does not match \\(got [0-9a-f]{64}, expected ${hash}\\); the target is not usable`));
    const show = await f.cli(['runs', 'show', f.runIdOf(r)]);
    assert.match(show.stdout, /x Apply {2}\(failed.*the image's SHA-256 does not match/);
  });

  test('a disk that fills up mid-write fails with one clear line and harms nothing else', async (t) => {
    const dir = join(f.work, 'small');
    mkdirSync(dir);
    // A real 8 MiB file system when this runs as root and may mount one; otherwise a file size limit (RLIMIT_FSIZE) on the client.
    const mounted = process.getuid?.() === 0 && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir]).status === 0;
    t.diagnostic(mounted ? 'an 8 MiB tmpfs' : 'ulimit -f (4 or 8 MiB) on the client');
    try {
      writeFileSync(join(dir, 'keep.txt'), 'other data\n');
      const target = join(dir, 'target.img');
      const tsId = await f.importTs('Full disk', target, f.ids.raw as string);
      const state = join(f.work, 'state-full');
      const args = [DEPLOYR_BIN, 'client', '--server', f.svc().url, '--ca', f.svc().caFile, '--state-dir', state, '--fullos', '--ts', `${tsId}:1`];
      const r = await new Promise<CommandResult>((resolve) => {
        const child = mounted
          ? spawn(process.execPath, args, { env: { ...process.env, DEPLOYR_VAR_Passcode: PASSCODE, DEPLOYR_APPLY_STREAM: '1' } })
          : spawn('sh', ['-c', 'ulimit -f 8192; exec "$0" "$@"', process.execPath, ...args], { env: { ...process.env, DEPLOYR_VAR_Passcode: PASSCODE, DEPLOYR_APPLY_STREAM: '1' } });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stdout, /at step "Apply": the target .*target\.img is full after \d+ bytes were written \((ENOSPC|EFBIG)\): it is smaller than the image; the target is not usable/);
      assert.equal(readFileSync(join(dir, 'keep.txt'), 'utf8'), 'other data\n', 'other files on that disk are intact');
      const show = await f.cli(['runs', 'show', f.runIdOf(r)]);
      assert.match(show.stdout, /is full after \d+ bytes were written/, 'the run and its reason reached the server');
      assert.ok(statSync(target).size < f.image.length, 'the image did not fit');
    } finally {
      if (mounted) spawnSync('umount', [dir]);
    }
  });
});
