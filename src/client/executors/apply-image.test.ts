// Unit tests of Apply image's target checks: a mounted filesystem's device and a directory are refused; a new file is fine.

import { strict as assert } from 'node:assert';
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
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
