// Unit tests of the filesystem blob store: content addressing, atomic writes, ranges, and refusing anything that is not a hash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeployrError } from '../domain/errors.js';
import { createFsBlobStore } from './fs-blob-store.js';

function tempRoot(t: { after(fn: () => void): void }): string {
  const root = mkdtempSync(join(tmpdir(), 'deployr-blobs-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

test('putFile stores a file under blobs/<aa>/<sha256> and reports its hash and size', async (t) => {
  const root = tempRoot(t);
  const bytes = randomBytes(5 * 1024 * 1024 + 17);
  const source = join(root, 'source.bin');
  writeFileSync(source, bytes);
  const store = createFsBlobStore(join(root, 'content'));
  const info = await store.putFile(source);
  const hash = createHash('sha256').update(bytes).digest('hex');
  assert.deepEqual(info, { sha256: hash, size: bytes.length });
  const file = join(root, 'content', 'blobs', hash.slice(0, 2), hash);
  assert.equal(store.localPath(hash), file);
  assert.deepEqual(readFileSync(file), bytes);
  assert.deepEqual(await store.stat(hash), { size: bytes.length });
  assert.equal(await store.exists(hash), true);
  assert.deepEqual(readdirSync(join(root, 'content', 'tmp')), [], 'no temp file left behind');
  // The same bytes again: one blob.
  assert.deepEqual(await store.putFile(source), info);
  assert.deepEqual(readdirSync(join(root, 'content', 'blobs', hash.slice(0, 2))), [hash]);
});

test('putStream stores a stream; an empty stream is a valid (empty) blob', async (t) => {
  const store = createFsBlobStore(tempRoot(t));
  async function* parts(): AsyncIterable<Uint8Array> { yield Buffer.from('hello, '); yield Buffer.from('world'); }
  const info = await store.putStream(parts());
  assert.equal(info.sha256, createHash('sha256').update('hello, world').digest('hex'));
  assert.equal(info.size, 12);
  const empty = await store.putStream((async function* () { /* nothing */ })());
  assert.deepEqual(empty, { sha256: createHash('sha256').digest('hex'), size: 0 });
});

test('a failed write leaves nothing under a final name and no temp file', async (t) => {
  const root = tempRoot(t);
  const store = createFsBlobStore(root);
  async function* broken(): AsyncIterable<Uint8Array> { yield randomBytes(1024); throw new Error('source failed'); }
  await assert.rejects(store.putStream(broken()), /source failed/);
  assert.deepEqual(readdirSync(join(root, 'tmp')), []);
  assert.equal(existsSync(join(root, 'blobs')), false);
});

test('openReader reads any byte range at any position, and 0 bytes past the end', async (t) => {
  const store = createFsBlobStore(tempRoot(t));
  const bytes = randomBytes(3 * 1024 * 1024);
  const { sha256 } = await store.putStream([bytes]);
  const reader = await store.openReader(sha256);
  try {
    const buffer = Buffer.alloc(2 * 1024 * 1024);
    assert.equal(await reader.read(buffer, buffer.length, 100), buffer.length);
    assert.deepEqual(buffer, bytes.subarray(100, 100 + buffer.length));
    assert.equal(await reader.read(buffer, 10, bytes.length - 4), 4);
    assert.deepEqual(buffer.subarray(0, 4), bytes.subarray(bytes.length - 4));
    assert.equal(await reader.read(buffer, 10, bytes.length), 0);
  } finally {
    await reader.close();
  }
});

test('anything but 64 lower-case hex digits is refused, so no other file can be named', async (t) => {
  const store = createFsBlobStore(tempRoot(t));
  for (const bad of ['../deployr.db', `${'a'.repeat(62)}/..`, 'A'.repeat(64), `${'a'.repeat(64)}/x`, '', 'a'.repeat(65)]) {
    assert.throws(() => store.localPath(bad), (err) => isDeployrError(err, 'INVALID_INPUT'), bad);
    await assert.rejects(store.openReader(bad), (err) => isDeployrError(err, 'INVALID_INPUT'), bad);
    await assert.rejects(store.stat(bad), (err) => isDeployrError(err, 'INVALID_INPUT'), bad);
  }
  assert.equal(await store.stat('b'.repeat(64)), null);
  assert.equal(await store.exists('b'.repeat(64)), false);
});
