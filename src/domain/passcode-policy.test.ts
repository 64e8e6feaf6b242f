// Unit tests of the new-passcode rules.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import fc from 'fast-check';
import { checkNewPasscode, normalizePasscode, PASSCODE_MAX_LENGTH } from './passcode-policy.js';
import { isDeployrError } from './errors.js';

const rejected = (p: string): string => {
  try { checkNewPasscode(p); } catch (err) { assert.ok(isDeployrError(err, 'PASSCODE_REJECTED')); return err.message; }
  assert.fail(`accepted ${JSON.stringify(p)}`);
};

test('refuses empty, short, over-long, control characters, common and single-character passcodes', () => {
  assert.match(rejected(''), /empty/);
  assert.match(rejected('Ab3$xyz'), /too short/);
  assert.match(rejected('x'.repeat(PASSCODE_MAX_LENGTH) + 'yz'), /too long/);
  assert.match(rejected('line\nbreak-pass'), /control/);
  for (const common of ['DeployR123', 'deployr2026', 'Password1', '12345678', 'Passcode1']) assert.match(rejected(common), /common/);
  assert.match(rejected('aaaaaaaaaaaa'), /single character/);
});

test('accepts 8 to 14 characters with a NIST warning, 15 or more without', () => {
  assert.equal(checkNewPasscode('Quokka-7x').warnings.length, 1);
  assert.deepEqual(checkNewPasscode('Quokka-7x-Lantern').warnings, []);
});

test('counts code points, normalises with NFKC and never truncates', () => {
  assert.equal(normalizePasscode('ﬁﬁﬁ-Ｐａｓｓ'), 'fififi-Pass');
  const long = 'é'.repeat(200) + 'z';
  assert.equal(checkNewPasscode(long).normalized, long.normalize('NFKC'));
});

test('no rejection message ever contains the passcode', () => {
  fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 40 }), (p) => {
    try { checkNewPasscode(p); } catch (err) {
      const m = (err as Error).message;
      return p.length < 4 || !m.includes(p);
    }
    return true;
  }));
});
