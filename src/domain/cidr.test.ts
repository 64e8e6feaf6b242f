// Unit tests of source ranges: parsing, canonical text, matching (IPv4, IPv6, IPv4-mapped IPv6).
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { cidrContains, parseCidr } from './cidr.js';
import { isDeployrError } from './errors.js';

test('ranges parse to their canonical text and match the addresses inside them', () => {
  assert.equal(parseCidr('10.1.2.3/8').text, '10.0.0.0/8');
  assert.equal(parseCidr('192.168.1.20').text, '192.168.1.20/32');
  assert.equal(parseCidr('FD00:0:0::1/8').text, 'fd00::/8');
  assert.equal(parseCidr('::1').text, '::1/128');
  assert.ok(cidrContains(parseCidr('127.0.0.0/8'), '127.0.9.1'));
  assert.ok(cidrContains(parseCidr('127.0.0.0/8'), '::ffff:127.0.0.1'), 'an IPv4-mapped address is its IPv4 address');
  assert.ok(!cidrContains(parseCidr('10.0.0.0/8'), '127.0.0.1'));
  assert.ok(cidrContains(parseCidr('fd00::/8'), 'fd12:3456::9'));
  assert.ok(!cidrContains(parseCidr('fd00::/8'), '10.0.0.1'));
  assert.ok(cidrContains(parseCidr('0.0.0.0/0'), '8.8.8.8'));
  assert.ok(!cidrContains(parseCidr('0.0.0.0/0'), '::1'), 'families do not mix');
  assert.ok(!cidrContains(parseCidr('10.0.0.0/8'), 'not-an-address'));
});

test('anything else is INVALID_INPUT', () => {
  for (const bad of ['10.0.0.0/33', '10.0.0/8', '300.1.1.1', '1.2.3.4/-1', 'fd00::/129', 'fd00:::1', 'host.example', '', '1.2.3.4/8/8', '01.2.3.4']) {
    assert.throws(() => parseCidr(bad), (err: unknown) => isDeployrError(err, 'INVALID_INPUT'), bad);
  }
});
