// Hostile request parts shared by test/hostile-input.test.ts and the soak's fuzz phase: path parameters, bodies, content types and fast-check generators.

import fc from 'fast-check';

/** A GUID of the right shape that names nothing. */
export const UNKNOWN_GUID = '0b226848-3d5e-4b8a-9f2e-0123456789ab';
/** A SHA-256 of the right shape that names nothing. */
export const UNKNOWN_SHA = 'a'.repeat(64);

/** Hostile path parameters: traversal, encodings, NUL, huge, unicode, wrong shapes. */
export const HOSTILE_PARAMS: readonly string[] = [
  '..', '..%2F..%2F..%2Fetc%2Fpasswd', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', '..%5C..%5Cwindows%5Cwin.ini', '%00', 'a%00b', '%E0%A4%A', '%',
  'x'.repeat(5000), '%F0%9F%92%A9', '__proto__', 'constructor', 'active', '0', '-1', '999999999999', `${UNKNOWN_GUID}%2F..`, UNKNOWN_GUID.toUpperCase(), UNKNOWN_SHA.slice(1), `${UNKNOWN_SHA}0`,
];

/** Hostile bodies, sent raw; `passcode` is the real one (so a valid-looking body may pass the schema), `taskSequenceId` a real task sequence. */
export function hostileBodies(passcode: string, taskSequenceId: string): string[] {
  return [
    '', '{', '}', 'null', 'true', '[]', '"passcode"', '{"passcode":', '{"passcode":"a" "context":"boot"}', '\u0000', '{"a":1,}', "{'passcode':'x'}",
    '{"__proto__":{"isAdmin":true},"passcode":"x","context":"boot"}', '{"constructor":{"prototype":{"polluted":1}},"passcode":"x","context":"boot"}',
    '{"passcode":{"__proto__":{"x":1}},"context":"boot"}', '{"passcode":"x","context":"boot","__proto__":null}',
    JSON.stringify({ passcode: 'x'.repeat(1025), context: 'boot' }), JSON.stringify({ passcode: 'ﷺ'.repeat(1024), context: 'boot' }),
    JSON.stringify({ passcode: 12345678, context: 'boot' }), JSON.stringify({ passcode: ['a'], context: 'boot' }), JSON.stringify({ passcode: null, context: 'boot' }),
    JSON.stringify({ passcode, context: 'winpe' }), JSON.stringify({ passcode, context: 'boot', extra: 1 }),
    JSON.stringify({ passcode, context: 'boot', deviceId: '../../etc' }), JSON.stringify({ passcode, context: 'boot', deviceId: 'x'.repeat(129) }),
    JSON.stringify({ accessToken: 'e'.repeat(20000) }), JSON.stringify({ script: '../../bin/sh', arguments: [] }), JSON.stringify({ script: 'x', arguments: Array(129).fill('a') }),
    JSON.stringify({ text: 'y'.repeat(300_000) }), JSON.stringify({ taskSequenceId, versionNo: 1e308 }), JSON.stringify({ taskSequenceId, versionNo: -1 }),
    JSON.stringify({ key: '0'.repeat(1025), stepId: UNKNOWN_GUID, name: 'n', status: 'running' }), JSON.stringify({ status: 'exploded' }),
    `{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`, `{"passcode":"${'\\u0000'.repeat(100)}","context":"boot"}`, 'z'.repeat(70 * 1024), `{"passcode":"${'p'.repeat(80 * 1024)}","context":"boot"}`,
  ];
}

/** Content types other than plain JSON that a body may claim. */
export const HOSTILE_CONTENT_TYPES: readonly string[] = [
  'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'application/json; charset=bogus', 'multipart/form-data; boundary=x',
];

/** Fuzzed JSON-ish bodies: JSON values, anything, binary strings, login-shaped records (passcodes start `S3cr3t-`), prototype-polluting keys. */
export function fuzzedBodyArbitrary(): fc.Arbitrary<string> {
  const secretish = fc.string({ minLength: 8, maxLength: 40 }).map((s) => `S3cr3t-${s}`);
  return fc.oneof(
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.anything().map((v) => { try { return JSON.stringify(v) ?? 'undefined'; } catch { return '{}'; } }),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.record({ passcode: fc.oneof(secretish, fc.jsonValue()), context: fc.oneof(fc.constantFrom('boot', 'fullos'), fc.jsonValue()), deviceId: fc.option(fc.string({ unit: 'binary' }), { nil: undefined }), taskSequence: fc.option(fc.string(), { nil: undefined }) }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
    fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'prototype', 'passcode', 'context', 'text', 'script', 'arguments', 'status', 'key'), fc.jsonValue()).map((o) => JSON.stringify(o).replace('"constructor"', '"__proto__"')),
  );
}

/** The passcode-like value a fuzzed body carries (it must never come back in an answer), if any. */
export function secretOfBody(body: string): string | undefined {
  return /"passcode":"(S3cr3t-[^"]*)"/.exec(body)?.[1];
}

/** A fuzzed path segment: an encoded binary string or one of the hostile parameters. */
export function fuzzedSegmentArbitrary(): fc.Arbitrary<string> {
  return fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }).map(encodeURIComponent), fc.constantFrom(...HOSTILE_PARAMS));
}

/** A fuzzed header value (printable ASCII, no line breaks). */
export function fuzzedHeaderArbitrary(maxLength = 300): fc.Arbitrary<string> {
  return fc.string({ unit: 'grapheme-ascii', maxLength }).map((s) => s.replace(/[\r\n]/g, ''));
}

/** Fills every `:name` or `{name}` parameter of a route path with `value`. */
export function fillPath(path: string, value: string): string {
  return path.replace(/:[A-Za-z0-9]+|\{[A-Za-z0-9]+\}/g, value);
}
