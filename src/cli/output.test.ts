// Unit tests for the CLI's plural and duration words.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeDuration, plural } from './output.js';

test('plural puts the noun in the right number', () => {
  assert.equal(plural(1, 'second'), '1 second');
  assert.equal(plural(0, 'second'), '0 seconds');
  assert.equal(plural(2, 'entry', 'entries'), '2 entries');
  assert.equal(plural(1, 'entry', 'entries'), '1 entry');
});

test('describeDuration names at most the two largest units, in the right number', () => {
  assert.equal(describeDuration(0), '0 seconds');
  assert.equal(describeDuration(1), '1 second');
  assert.equal(describeDuration(45), '45 seconds');
  assert.equal(describeDuration(60), '1 minute');
  assert.equal(describeDuration(7200), '2 hours');
  assert.equal(describeDuration(5400), '1 hour 30 minutes');
  assert.equal(describeDuration(90 * 86400), '90 days');
  assert.equal(describeDuration(86400 + 3600 + 1), '1 day 1 hour');
});
