// Unit tests of Apply image: target checks (a mounted filesystem's device and a directory are refused; a new file is fine), the image format and DEPLOYR_APPLY_STREAM.

import { strict as assert } from 'node:assert';
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { imageCompression, streamSetting } from './apply-image.js';
import { refuseTarget } from './image-target.js';

test('a directory is refused and a file that does not exist yet is accepted', async () => {
  assert.match((await refuseTarget(tmpdir(), 1)) ?? '', /is a directory/);
  assert.equal(await refuseTarget(join(tmpdir(), `deployr-not-there-${process.pid}`), 1), null);
});

test('the block device of a mounted filesystem is refused', async (t) => {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const device = mountinfo.split('\n').map((l) => l.split(' - ')[1]?.split(' ')[1]).find((source) => {
    try { return source?.startsWith('/dev/') === true && statSync(source).isBlockDevice(); } catch { return false; }
  });
  if (!device) { t.skip('no mounted block device is visible here'); return; }
  assert.match((await refuseTarget(device, 1)) ?? '', /holds a mounted filesystem/);
});

test('the image format: the Compression setting wins, then the content version\'s format, then the file name', () => {
  assert.equal(imageCompression('', 'raw+zst', 'disk.bin'), 'zstd');
  assert.equal(imageCompression('', 'raw+gzip', 'disk.img'), 'gzip');
  assert.equal(imageCompression('', 'raw', 'disk.img.gz'), 'none', 'a stated format beats the file name');
  assert.equal(imageCompression('none', 'raw+gzip', 'disk.img.gz'), 'none', 'the step setting beats the format');
  assert.equal(imageCompression('zstd', null, 'disk.img'), 'zstd');
  assert.equal(imageCompression('', null, 'disk.img.zst'), 'zstd');
  assert.equal(imageCompression('', null, 'disk.img.gz'), 'gzip');
  assert.equal(imageCompression('', undefined, 'disk.img'), 'none');
  assert.match((imageCompression('xz', null, 'disk.img') as { error: string }).error, /Compression "xz" is not supported/);
  assert.match((imageCompression('', 'wim', 'disk.img') as { error: string }).error, /format "wim" is not a disk image format/);
});

test('DEPLOYR_APPLY_STREAM: 1 always streams, 0 never does, empty or auto decides; anything else is refused', () => {
  for (const v of ['1', 'yes', 'TRUE', 'always', 'on']) assert.equal(streamSetting(v), 'always');
  for (const v of ['0', 'no', 'false', 'never', 'off']) assert.equal(streamSetting(v), 'never');
  for (const v of [undefined, '', ' auto ']) assert.equal(streamSetting(v), 'auto');
  assert.match((streamSetting('sometimes') as { error: string }).error, /DEPLOYR_APPLY_STREAM="sometimes" is not understood/);
});
