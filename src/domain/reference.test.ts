// Unit tests for DeployR references ("<guid>:<version>").

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isDeployrError } from './errors.js';
import { formatReference, isGuid, isReference, normalizeGuid, parseReference } from './reference.js';

const GUID = '00000000-0000-0000-0000-000000000002';

describe('parseReference', () => {
  it('parses "<guid>:<version>" as DeployR writes it in contentItems', () => {
    assert.deepEqual(parseReference(`${GUID}:1`), { id: GUID, version: 1 });
    assert.deepEqual(parseReference('b09560a1-ae6d-48c2-b3d1-5177ee89a53f:12'), {
      id: 'b09560a1-ae6d-48c2-b3d1-5177ee89a53f',
      version: 12,
    });
  });

  it('reads a bare GUID as "latest Active version"', () => {
    assert.deepEqual(parseReference(GUID), { id: GUID, version: null });
  });

  it('lowercases the GUID and ignores surrounding whitespace', () => {
    assert.deepEqual(parseReference('  B09560A1-AE6D-48C2-B3D1-5177EE89A53F:3\n'), {
      id: 'b09560a1-ae6d-48c2-b3d1-5177ee89a53f',
      version: 3,
    });
  });

  const bad: Array<[string, unknown]> = [
    ['empty', ''],
    ['not a guid', 'hello'],
    ['short guid', '0000000-0000-0000-0000-000000000002:1'],
    ['braces', `{${GUID}}`],
    ['empty version', `${GUID}:`],
    ['version 0', `${GUID}:0`],
    ['leading zero', `${GUID}:01`],
    ['negative', `${GUID}:-1`],
    ['fraction', `${GUID}:1.5`],
    ['two versions', `${GUID}:1:2`],
    ['huge version', `${GUID}:99999999999999999999`],
    ['space inside', `${GUID}: 1`],
    ['number', 42],
    ['null', null],
  ];
  for (const [label, input] of bad) {
    it(`rejects ${label} with INVALID_INPUT and a one-line message`, () => {
      assert.throws(
        () => parseReference(input),
        (err: unknown) => {
          assert.ok(isDeployrError(err, 'INVALID_INPUT'));
          assert.match(err.message, /^invalid reference/);
          assert.doesNotMatch(err.message, /\n/);
          return true;
        },
      );
      assert.equal(isReference(input), false);
    });
  }

  it('keeps the message one line and short even for a huge, multi-line input', () => {
    const input = `not\na\nreference${'x'.repeat(10_000)}`;
    assert.throws(
      () => parseReference(input),
      (err: unknown) => isDeployrError(err, 'INVALID_INPUT') && !err.message.includes('\n') && err.message.length < 300,
    );
  });

  it('requires the version with { requireVersion: true }', () => {
    assert.throws(() => parseReference(GUID, { requireVersion: true }), /the version is missing/);
    assert.deepEqual(parseReference(`${GUID}:4`, { requireVersion: true }), { id: GUID, version: 4 });
  });
});

describe('formatReference', () => {
  it('writes "<guid>:<version>", or the bare guid when the version is null', () => {
    assert.equal(formatReference({ id: GUID, version: 1 }), `${GUID}:1`);
    assert.equal(formatReference({ id: GUID.toUpperCase(), version: null }), GUID);
  });

  it('refuses a bad GUID or version', () => {
    assert.throws(() => formatReference({ id: 'nope', version: 1 }), (e: unknown) => isDeployrError(e, 'INVALID_INPUT'));
    assert.throws(() => formatReference({ id: GUID, version: 0 }), (e: unknown) => isDeployrError(e, 'INVALID_INPUT'));
    assert.throws(() => formatReference({ id: GUID, version: 1.5 }), (e: unknown) => isDeployrError(e, 'INVALID_INPUT'));
  });

  it('round-trips with parseReference (property)', () => {
    const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-fA-F]{${n}}$`));
    const guid = fc.tuple(hex(8), hex(4), hex(4), hex(4), hex(12)).map((parts) => parts.join('-'));
    const version = fc.option(fc.integer({ min: 1, max: 2_147_483_647 }), { nil: null });
    fc.assert(
      fc.property(guid, version, (id, v) => {
        const text = formatReference({ id, version: v });
        assert.deepEqual(parseReference(text), { id: id.toLowerCase(), version: v });
        assert.equal(formatReference(parseReference(text)), text);
      }),
    );
  });
});

describe('GUID helpers', () => {
  it('isGuid and normalizeGuid', () => {
    assert.equal(isGuid(GUID), true);
    assert.equal(isGuid(`${GUID}:1`), false);
    assert.equal(isGuid(7), false);
    assert.equal(normalizeGuid('8770D276-96EE-4C2B-B8C4-38D4AD54670C'), '8770d276-96ee-4c2b-b8c4-38d4ad54670c');
    assert.throws(() => normalizeGuid('x'), (e: unknown) => isDeployrError(e, 'INVALID_INPUT'));
  });
});
