// Fair turns: round-robin over lanes, first come first served within one, the bound on waiting, and turns given back on failure.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { isDeployrError } from '../domain/errors.js';
import { FairTurns } from './fair-turns.js';

/** A task that runs until the test releases it, recording when it started. */
function heldTasks(order: string[]): { task(name: string): () => Promise<void>; release(): void } {
  const running: (() => void)[] = [];
  return {
    task: (name) => () => new Promise<void>((resolve) => { order.push(name); running.push(resolve); }),
    release: () => { const done = running.shift(); assert.ok(done, 'a task is running'); done(); },
  };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

test('a source with one check waits for one turn per other waiting source, not behind every check a busy source queued', async () => {
  const order: string[] = [];
  const held = heldTasks(order);
  const turns = new FairTurns(1, 64);
  const all: Promise<void>[] = [];
  for (let i = 1; i <= 10; i++) all.push(turns.run(held.task(`guess${i}`), '127.10.0.1'));
  for (let i = 1; i <= 3; i++) all.push(turns.run(held.task(`other${i}`), '127.10.0.2'));
  all.push(turns.run(held.task('technician'), '127.200.0.1'));
  await settle();
  assert.equal(turns.waiting, 13);
  for (let i = 0; i < 13; i++) { held.release(); await settle(); }
  held.release();
  await Promise.all(all);
  assert.deepEqual(order.slice(0, 5), ['guess1', 'guess2', 'other1', 'technician', 'guess3'], 'round-robin: the technician comes fourth, not fourteenth');
  assert.deepEqual(order.filter((n) => n.startsWith('guess')), Array.from({ length: 10 }, (_, i) => `guess${i + 1}`), 'one lane keeps its own order');
  assert.equal(order.length, 14);
  assert.equal(turns.waiting, 0);
});

test('at most `limit` run at once; a task past `maxWaiting` is refused with AUTH_THROTTLED (retry after 1 s) and nothing is queued for it', async () => {
  const order: string[] = [];
  const held = heldTasks(order);
  const turns = new FairTurns(2, 3);
  const all = ['a', 'b', 'c', 'd', 'e'].map((n) => turns.run(held.task(n), n));
  await settle();
  assert.deepEqual(order, ['a', 'b'], 'two at once');
  await assert.rejects(turns.run(held.task('f'), 'f'), (err: unknown) => isDeployrError(err, 'AUTH_THROTTLED') && err.details.retryAfterSeconds === 1);
  assert.equal(turns.waiting, 3);
  for (let i = 0; i < 5; i++) { held.release(); await settle(); }
  await Promise.all(all);
  assert.deepEqual(order, ['a', 'b', 'c', 'd', 'e']);
});

test('a task that throws gives its turn back', async () => {
  const turns = new FairTurns(1, 8);
  const failing = turns.run(() => Promise.reject(new Error('argon2 failed')), 'x');
  const next = turns.run(async () => 'ran', 'y');
  await assert.rejects(failing, /argon2 failed/);
  assert.equal(await next, 'ran');
  assert.equal(turns.waiting, 0);
});
