// End to end: Apply image streams raw, gzip and zstd images from the real service onto a disk (a sparse file) without the cache, in a boot environment or when asked; content formats are checked.

import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runDeployr } from './helpers/deployr-process.js';
import { PASSCODE, useStreamFixture } from './helpers/image-stream-fixture.js';

describe('Apply image streamed from the server', () => {
  const f = useStreamFixture(['zstd']);

  test('content add-version --format is checked and shown; a Folder item takes no format', async () => {
    const shown = await f.cli(['content', 'show', f.ids.gzip as string]);
    assert.match(shown.stdout, /Format: raw\+gzip/);
    const bad = await f.cli(['content', 'add-version', f.ids.raw as string, join(f.work, 'src', 'disk.img'), '--format', 'raw+xz']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /The format "raw\+xz" is not known; use one of raw, raw\+gzip, raw\+zst\./);
    assert.equal(bad.stderr.trim().split('\n').length, 1, 'one line');
    assert.doesNotMatch((await f.cli(['content', 'show', f.ids.raw as string])).stdout, /Version 2/, 'nothing was added');
    const folder = await f.cli(['content', 'create', '--name', 'Folder of files', '--purpose', 'Other', '--type', 'Folder']);
    const folderId = /\(([0-9a-f-]{36})\)/.exec(folder.stdout)?.[1] as string;
    const refused = await f.cli(['content', 'add-version', folderId, join(f.work, 'src'), '--format', 'raw']);
    assert.match(refused.stderr, /A format describes a disk image, which is a SingleFile item; "Folder of files" is a Folder item\./);
  });

  test('raw and gzip images (and zstd, where the zstd program is installed) stream onto a disk without touching the cache', async (t) => {
    for (const kind of ['raw', 'gzip', 'zstd'] as const) {
      if (kind === 'zstd' && !f.zstdThere) { t.diagnostic('SKIPPED zstd: the zstd program is not installed (Debian package zstd)'); continue; }
      const target = f.disk(`${kind}.disk`);
      const tsId = await f.importTs(`Stream ${kind}`, target, f.ids[kind] as string);
      const state = join(f.work, `state-${kind}`);
      const r = await f.client(['--fullos', '--ts', `${tsId}:1`], state, { DEPLOYR_APPLY_STREAM: '1' });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /streamed from the server \(DEPLOYR_APPLY_STREAM is set\)/);
      assert.match(r.stdout, /%.*MiB \/ .*MiB, .*\/s, (done|.* left)/, 'progress with bytes, rate and time left');
      assert.match(r.stdout, kind === 'raw' ? /Wrote \d+ bytes to .*; SHA-256 [0-9a-f]{64} verified/ : /decompressed from \d+\) to .*SHA-256 [0-9a-f]{64}/);
      f.checkDisk(target);
      assert.deepEqual(f.cachedImages(state), [], 'nothing went into the cache');
    }
  });

  test('in a boot environment the image streams without being asked to; in a full OS with room it goes through the cache', async () => {
    const target = f.disk('boot.disk');
    const tsId = await f.importTs('Boot stream', target, f.ids.gzip as string);
    const state = join(f.work, 'state-boot');
    const r = await runDeployr(['client', '--server', f.svc().url, '--ca', f.svc().caFile, '--state-dir', state, '--ts', `${tsId}:1`], { input: `${PASSCODE}\n`, timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /streamed from the server \(boot environment: the system is in RAM\)/);
    f.checkDisk(target);
    assert.deepEqual(f.cachedImages(state), []);

    const cachedTarget = f.disk('cached.disk');
    const cachedTs = await f.importTs('Through the cache', cachedTarget, f.ids.gzip as string);
    const full = join(f.work, 'state-fullos');
    const c = await f.client(['--fullos', '--ts', `${cachedTs}:1`], full);
    assert.equal(c.code, 0, c.stdout + c.stderr);
    assert.match(c.stdout, /from the cache$/m);
    f.checkDisk(cachedTarget);
    assert.ok(f.cachedImages(full).length > 0, 'the image is in the cache');
  });
});
