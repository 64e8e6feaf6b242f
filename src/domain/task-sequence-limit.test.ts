// Unit tests of task sequence limits with one or more entries.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { formatLimit, limitAllows, limitEntries, limitVersions } from './task-sequence-limit.js';

const A = '0b226848-2b30-4863-ab1c-c8bbd66e1c42';
const B = '1c337959-3c41-4974-bc2d-d9cce77f2d53';

test('a limit of one or several entries: what it allows and which versions', () => {
  assert.deepEqual(limitEntries(`${A.toUpperCase()}:2, ${B}`), [{ id: A, version: 2 }, { id: B, version: null }]);
  assert.equal(formatLimit(limitEntries(`${A}:2,${B}`)), `${A}:2,${B}`);
  assert.ok(limitAllows(null, A));
  assert.ok(limitAllows(`${A}:2,${B}`, B.toUpperCase()));
  assert.ok(!limitAllows(A, B));
  assert.equal(limitVersions(null, A), null);
  assert.deepEqual(limitVersions(`${A}:2,${A}:3`, A), [2, 3]);
  assert.equal(limitVersions(`${A}:2,${A}`, A), null, 'an entry without a version allows any');
  assert.deepEqual(limitVersions(A, B), []);
});
