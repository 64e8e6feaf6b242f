// Tests for sendBlob: whole files and ranges over a real loopback HTTP server reading real blob files, buffer reuse without mixing, short files and clients that go away.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createFsBlobStore } from '../store/fs-blob-store.js';
import type { BlobReader } from '../engine/ports.js';
import { pooledBuffers, SEND_CHUNK, sendBlob } from './send-blob.js';

interface Served { sha256: string; start: number; end: number; length: number }

/** A store with two blobs and a server that sends `?sha=..&start=..&end=..&length=..`, counting reader closes and errors. */
async function setup(t: { after(fn: () => void | Promise<void>): void }) {
  const root = mkdtempSync(join(tmpdir(), 'deployr-send-blob-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const store = createFsBlobStore(root);
  const a = randomBytes(5 * SEND_CHUNK + 12345);
  const b = randomBytes(3 * SEND_CHUNK + 777);
  const blobA = await store.putStream([a]);
  const blobB = await store.putStream([b]);
  const events = { closed: 0, errors: [] as Error[] };
  const server: Server = createServer((req, res) => {
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    const s: Served = { sha256: q.get('sha') as string, start: Number(q.get('start')), end: Number(q.get('end')), length: Number(q.get('length')) };
    void store.openReader(s.sha256).then((inner) => {
      const reader: BlobReader = { read: (buf, len, pos) => inner.read(buf, len, pos), close: async () => { events.closed++; await inner.close(); } };
      res.writeHead(200, { 'content-length': String(s.length) });
      sendBlob(res, reader, s.start, s.end, (err) => events.errors.push(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  const { port } = server.address() as AddressInfo;
  const url = (s: Served): string => `http://127.0.0.1:${port}/?sha=${s.sha256}&start=${s.start}&end=${s.end}&length=${s.length}`;
  return { a, b, blobA, blobB, events, url };
}

/** The body, or the error that cut it, with the bytes that came before. */
function fetchBody(url: string, onResponse?: (res: IncomingMessage) => void): Promise<{ body: Buffer; error: Error | null }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const req = get(url, { agent: false }, (res) => {
      onResponse?.(res);
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ body: Buffer.concat(chunks), error: null }));
      res.on('error', (error) => resolve({ body: Buffer.concat(chunks), error }));
      res.on('close', () => resolve({ body: Buffer.concat(chunks), error: res.complete ? null : new Error('the body was cut short') }));
    });
    req.on('error', (error) => resolve({ body: Buffer.concat(chunks), error }));
  });
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('two files sent at the same time, again and again through the shared buffers, each arrive byte for byte', async (t) => {
  const { a, b, blobA, blobB, events, url } = await setup(t);
  const whole = (blob: { sha256: string; size: number }): Served => ({ sha256: blob.sha256, start: 0, end: blob.size - 1, length: blob.size });
  for (let round = 0; round < 3; round++) {
    const results = await Promise.all([fetchBody(url(whole(blobA))), fetchBody(url(whole(blobB))), fetchBody(url(whole(blobA))), fetchBody(url(whole(blobB)))]);
    for (const [i, r] of results.entries()) {
      assert.equal(r.error, null);
      assert.ok(r.body.equals(i % 2 === 0 ? a : b), `round ${round}, download ${i} differs from its file`);
    }
  }
  assert.ok(pooledBuffers() > 0, 'the buffers went back to the pool for the next responses');
  await until(() => events.closed === 12, 'every reader to be closed');
  assert.deepEqual(events.errors, []);
});

test('a range starting and ending inside chunks is sent exactly', async (t) => {
  const { a, blobA, url } = await setup(t);
  const start = SEND_CHUNK - 10;
  const end = 3 * SEND_CHUNK + 5;
  const r = await fetchBody(url({ sha256: blobA.sha256, start, end, length: end - start + 1 }));
  assert.equal(r.error, null);
  assert.ok(r.body.equals(a.subarray(start, end + 1)));
});

test('a file shorter than announced cuts the connection and says why; what was sent is the file', async (t) => {
  const { a, blobA, events, url } = await setup(t);
  const announced = blobA.size + SEND_CHUNK;
  const r = await fetchBody(url({ sha256: blobA.sha256, start: 0, end: announced - 1, length: announced }));
  assert.ok(r.error, 'the client sees an error, not a complete body');
  assert.ok(r.body.length <= a.length);
  assert.ok(r.body.equals(a.subarray(0, r.body.length)), 'no bytes from anywhere else (such as an old pooled buffer)');
  await until(() => events.errors.length === 1 && events.closed === 1, 'the error and the close');
  assert.match(events.errors[0]?.message ?? '', /ended at byte \d+, before the \d+ bytes announced/);
});

test('a client that goes away mid-file stops the sending and closes the reader', async (t) => {
  const { blobA, events, url } = await setup(t);
  const r = await fetchBody(url({ sha256: blobA.sha256, start: 0, end: blobA.size - 1, length: blobA.size }), (res) => res.once('data', () => res.destroy()));
  assert.ok(r.body.length < blobA.size);
  await until(() => events.closed === 1, 'the reader to be closed');
  assert.deepEqual(events.errors, [], 'a client leaving is not an error of the file');
});
