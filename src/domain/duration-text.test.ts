// Unit tests for counts and durations in words: singular and plural, and ages in their largest unit.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeAge, describeDuration, plural } from './duration-text.js';

test('a count of one is singular, any other count plural', () => {
  assert.equal(plural(1, 'day'), '1 day');
  assert.equal(plural(0, 'day'), '0 days');
  assert.equal(plural(3, 'entry', 'entries'), '3 entries');
});

test('a reminder period of one day reads "1 day", never "1 days"', () => {
  assert.equal(describeDuration(86_400), '1 day');
  assert.equal(describeDuration(90 * 86_400), '90 days');
  assert.equal(describeDuration(5_400), '1 hour 30 minutes');
});

test('an age is told in its largest whole unit, switching at two of it', () => {
  assert.equal(describeAge(45), '45 seconds');
  assert.equal(describeAge(119), '119 seconds');
  assert.equal(describeAge(7_199), '119 minutes');
  assert.equal(describeAge(86_400), '24 hours');
  assert.equal(describeAge(200 * 86_400 + 17), '200 days');
});
