// End to end: what the CLI says after saving settings — no "unchanged s", no "1 seconds".

import { strict as assert } from 'node:assert';
import { after, test } from 'node:test';
import { runDeployr, tempHome } from './helpers/deployr-process.js';

const { home, cleanup } = tempHome('deployr-messages-');
after(cleanup);

test('configure security --overlap / --remind-after says what was saved, in words, naming only what changed', async () => {
  const overlap = await runDeployr(['configure', 'security', '--overlap', '2h'], { home });
  assert.equal(overlap.code, 0, overlap.stderr);
  assert.match(overlap.stdout, /^Saved: rotation overlap 2 hours\.$/m);
  assert.doesNotMatch(overlap.stdout, /unchanged| s\b/);

  const remind = await runDeployr(['configure', 'security', '--remind-after', '1s'], { home });
  assert.equal(remind.code, 0, remind.stderr);
  assert.match(remind.stdout, /^Saved: passcode reminder after 1 second\.$/m);

  const both = await runDeployr(['configure', 'security', '--overlap', '0', '--remind-after', '90d'], { home });
  assert.equal(both.code, 0, both.stderr);
  assert.match(both.stdout, /^Saved: rotation overlap off; passcode reminder after 90 days\.$/m);

  const bypass = await runDeployr(['configure', 'security', '--bypass', 'off'], { home });
  assert.match(bypass.stdout, /^Saved: bypass \(anonymous\) authentication off\.$/m);
});
