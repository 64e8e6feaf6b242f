// Tests of the cluster-wide count of passcode checks in flight: one count for all workers, freed when a worker ends.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { PrimaryCheckGate, WorkerCheckGate, type GateRequest, type GateResult } from './cluster-check-gate.js';

const KEYS = ['src:10.0.0.1|pc', 'ip:10.0.0.1'];
const enter = (id: number, digest: string): GateRequest => ({ type: 'gate-enter', id, keys: KEYS, digest, allowances: [2, 3] });

test('the primary counts the checks of all workers together, and the same value always joins', () => {
  const gate = new PrimaryCheckGate();
  assert.equal(gate.handle(1, enter(1, 'a'))?.full, null);
  assert.equal(gate.handle(2, enter(1, 'b'))?.full, null);
  assert.equal(gate.handle(2, enter(2, 'c'))?.full, KEYS[0], 'a third value at once is refused, whichever worker asks');
  assert.equal(gate.handle(1, enter(2, 'a'))?.full, null, 'the same value again joins');
  gate.handle(2, { type: 'gate-leave', keys: KEYS, digest: 'b' });
  assert.equal(gate.handle(2, enter(3, 'c'))?.full, null, 'after a check ends another value may run');
});

test('the checks of a worker that ended are forgotten; junk messages are ignored', () => {
  const gate = new PrimaryCheckGate();
  gate.handle(1, enter(1, 'a'));
  gate.handle(1, enter(2, 'b'));
  assert.equal(gate.handle(2, enter(1, 'c'))?.full, KEYS[0]);
  gate.forget(1);
  assert.equal(gate.handle(2, enter(2, 'c'))?.full, null);
  assert.equal(gate.handle(2, { type: 'say', line: 'x' }), null);
  assert.equal(gate.handle(2, { type: 'gate-enter', id: 5, keys: [1, 2], digest: 'd' }), null);
  assert.equal(gate.handle(2, null), null);
});

test('a worker waits for the primary, and refuses when it cannot reach it or it went away', async () => {
  const sent: GateRequest[] = [];
  let connected = true;
  const gate = new WorkerCheckGate((m) => { sent.push(m); return connected; });
  const admitted = gate.enter(KEYS, 'a', [2, 3]);
  const request = sent[0] as Extract<GateRequest, { type: 'gate-enter' }>;
  gate.handle({ type: 'gate-result', id: request.id, full: null } satisfies GateResult);
  assert.equal(await admitted, null);
  const waiting = gate.enter(KEYS, 'b', [2, 3]);
  gate.refuseAll();
  assert.equal(await waiting, 'primary');
  connected = false;
  assert.equal(await gate.enter(KEYS, 'c', [2, 3]), KEYS[0]);
  gate.leave(KEYS, 'a');
  assert.deepEqual(sent.at(-1), { type: 'gate-leave', keys: KEYS, digest: 'a' });
});
