// Unit tests of the run use cases (with an in-memory store) and of server-side scripts (real processes in a temporary Scripts folder).

import { strict as assert } from 'node:assert';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { AuditEntry, AuditEvent } from '../domain/audit.js';
import { isDeployrError } from '../domain/errors.js';
import type { Principal } from '../domain/principal.js';
import type { RunRecord, RunStepRecord } from '../domain/run.js';
import type { TaskSequence } from '../domain/task-sequence.js';
import type { AuditStore, RunFilter, RunStore, TaskSequenceStore } from './ports.js';
import { RUN_LOG_TRUNCATED_NOTE, RunRegistry } from './run-registry.js';
import { parseVariableLine, runServerScript } from './server-scripts.js';

const TS = '11111111-1111-4111-8111-111111111111';
const OTHER = '22222222-2222-4222-8222-222222222222';

function taskSequence(id: string, status = 'Active'): TaskSequence {
  return {
    id, name: `TS ${id.slice(0, 4)}`, description: null, versionsCount: 0, createdDate: 0, lastModifiedDate: 0, architecture: 'Any',
    versions: [{ id: '33333333-3333-4333-8333-333333333333', taskSequenceId: id, versionNo: 1, status, description: null, steps: [], createdDate: 0, lastModifiedDate: 0 }],
  };
}

class MemoryStore implements RunStore, TaskSequenceStore, AuditStore {
  runs = new Map<string, RunRecord>();
  steps = new Map<string, RunStepRecord[]>();
  logs = new Map<string, string>();
  audit: AuditEvent[] = [];
  ts = new Map<string, TaskSequence>([[TS, taskSequence(TS)], [OTHER, taskSequence(OTHER, 'Inactive')]]);
  owners = new Map<string, string | null>();
  async createRun(run: RunRecord, owner?: string | null): Promise<void> { this.runs.set(run.id, { ...run }); this.owners.set(run.id, owner ?? null); }
  async getRun(id: string): Promise<RunRecord | null> { return this.runs.get(id) ?? null; }
  async getRunOwner(id: string): Promise<string | null> { return this.owners.get(id) ?? null; }
  async setRunOwner(id: string, owner: string): Promise<void> { this.owners.set(id, owner); }
  async listRuns(filter: RunFilter): Promise<RunRecord[]> {
    return [...this.runs.values()].filter((r) => (!filter.taskSequenceId || r.taskSequenceId === filter.taskSequenceId) && (!filter.ownerTokenId || this.owners.get(r.id) === filter.ownerTokenId));
  }
  async updateRun(id: string, patch: Partial<RunRecord>): Promise<RunRecord | null> {
    const run = this.runs.get(id);
    if (!run) return null;
    Object.assign(run, patch);
    return run;
  }
  async putRunStep(runId: string, step: RunStepRecord): Promise<void> {
    const list = this.steps.get(runId) ?? [];
    const at = list.findIndex((s) => s.key === step.key);
    if (at >= 0) list[at] = step; else list.push(step);
    this.steps.set(runId, list);
  }
  async listRunSteps(runId: string): Promise<RunStepRecord[]> { return this.steps.get(runId) ?? []; }
  async appendRunLog(runId: string, text: string): Promise<void> { this.logs.set(runId, (this.logs.get(runId) ?? '') + text); }
  async getRunLog(runId: string): Promise<string> { return this.logs.get(runId) ?? ''; }
  async runLogLength(runId: string): Promise<number> { return (this.logs.get(runId) ?? '').length; }
  async deleteRunsBefore(before: string): Promise<number> {
    const old = [...this.runs.values()].filter((r) => r.updatedAt < before);
    for (const r of old) { this.runs.delete(r.id); this.steps.delete(r.id); this.logs.delete(r.id); }
    return old.length;
  }
  async deleteRun(id: string, event: AuditEvent): Promise<RunRecord | null> {
    const run = this.runs.get(id) ?? null;
    if (run) { this.runs.delete(id); this.steps.delete(id); this.logs.delete(id); this.audit.push(event); }
    return run;
  }
  async putTaskSequence(): Promise<void> {}
  async deleteTaskSequence(): Promise<boolean> { return false; }
  async getTaskSequence(id: string): Promise<TaskSequence | null> { return this.ts.get(id) ?? null; }
  async listTaskSequences(): Promise<TaskSequence[]> { return [...this.ts.values()]; }
  async append(event: AuditEvent): Promise<AuditEntry> { this.audit.push(event); return { ...event, seq: this.audit.length, at: '', mac: '' }; }
  async list(): Promise<AuditEntry[]> { return []; }
  async verify(): Promise<{ ok: boolean; checked: number; brokenAt: number | null }> { return { ok: true, checked: 0, brokenAt: null }; }
}

function principal(limit: string | null = null): Principal {
  return { method: 'passcode', subject: 'passcode', context: 'fullos', taskSequenceLimit: limit, certificateThumbprint: null, tokenId: 't', expiresAt: 0 };
}

const src = { address: '127.0.0.1' };

test('a run is registered only for an Active version, and a limited token only for its task sequence', async () => {
  const store = new MemoryStore();
  const runs = new RunRegistry({ store });
  const run = await runs.register(principal(), { taskSequenceId: TS, versionNo: 1, deviceId: 'pc1' }, src);
  assert.equal(run.status, 'running');
  await assert.rejects(runs.register(principal(), { taskSequenceId: OTHER, versionNo: 1 }, src), (e) => isDeployrError(e, 'CONFLICT'));
  await assert.rejects(runs.register(principal(`${OTHER}:1`), { taskSequenceId: TS, versionNo: 1 }, src), (e) => isDeployrError(e, 'FORBIDDEN'));
  await assert.rejects(runs.register(principal(`${TS}:2`), { taskSequenceId: TS, versionNo: 1 }, src), (e) => isDeployrError(e, 'FORBIDDEN'));
  assert.equal((await runs.register(principal(TS), { taskSequenceId: TS, versionNo: 1 }, src)).taskSequenceId, TS);
  assert.deepEqual(await runs.list(principal(OTHER)), [], 'a limited token sees only runs of its task sequence');
  await assert.rejects(runs.get(principal(OTHER), run.id), (e) => isDeployrError(e, 'NOT_FOUND'));
});

test('steps are recorded by key, the current step follows, and a finished run takes no more reports', async () => {
  const store = new MemoryStore();
  const runs = new RunRegistry({ store });
  const p = principal();
  const run = await runs.register(p, { taskSequenceId: TS, versionNo: 1 }, src);
  const key = 'aaaaaaaa-0000-0000-0000-000000000001';
  await runs.reportStep(p, run.id, { key, stepId: key, name: 'One', status: 'running' });
  assert.equal((await runs.get(p, run.id)).currentStep, 'One');
  await runs.reportStep(p, run.id, { key, stepId: key, name: 'One', status: 'failed', exitCode: 3, durationMs: 10, outputTail: 'boom', message: 'exit code 3' });
  const got = await runs.get(p, run.id);
  assert.equal(got.steps.length, 1);
  assert.equal(got.steps[0]?.status, 'failed');
  assert.equal(got.steps[0]?.exitCode, 3);
  await runs.finish(p, run.id, { status: 'failed', message: '"One" failed' }, src);
  await assert.rejects(runs.reportStep(p, run.id, { key, stepId: key, name: 'One', status: 'running' }), (e) => isDeployrError(e, 'CONFLICT'));
  assert.ok(store.audit.some((e) => e.kind === 'run' && e.method === 'finish' && e.result === 'failed'));
});

test('a run keeps its log up to the size limit: the piece that passes it is cut with a note, later pieces are dropped', async () => {
  const store = new MemoryStore();
  const runs = new RunRegistry({ store, logMaxChars: 100 });
  const p = principal();
  const run = await runs.register(p, { taskSequenceId: TS, versionNo: 1 }, src);
  await runs.appendLog(p, run.id, 'a'.repeat(60));
  assert.equal(await runs.log(p, run.id), 'a'.repeat(60));
  await runs.appendLog(p, run.id, 'b'.repeat(60));
  assert.equal(await runs.log(p, run.id), 'a'.repeat(60) + 'b'.repeat(40) + RUN_LOG_TRUNCATED_NOTE);
  await runs.appendLog(p, run.id, 'c'.repeat(10));
  assert.equal(await runs.log(p, run.id), 'a'.repeat(60) + 'b'.repeat(40) + RUN_LOG_TRUNCATED_NOTE, 'nothing more after the limit');
  // A cut never splits a character made of two UTF-16 units.
  const emoji = await runs.register(p, { taskSequenceId: TS, versionNo: 1 }, src);
  await runs.appendLog(p, emoji.id, 'e'.repeat(99) + '\u{1F600}tail');
  assert.equal(await runs.log(p, emoji.id), 'e'.repeat(99) + RUN_LOG_TRUNCATED_NOTE);
  // Another run has its own allowance.
  const second = await runs.register(p, { taskSequenceId: TS, versionNo: 1 }, src);
  await runs.appendLog(p, second.id, 'd'.repeat(100));
  assert.equal(await runs.log(p, second.id), 'd'.repeat(100));
});

test('prune deletes runs with no change for longer than the age, unfinished ones included, and audits it', async () => {
  const store = new MemoryStore();
  let now = new Date('2026-01-01T00:00:00Z');
  const runs = new RunRegistry({ store, now: () => now });
  const p = principal();
  const old = await runs.register(p, { taskSequenceId: TS, versionNo: 1 }, src);
  await runs.finish(p, old.id, { status: 'succeeded' }, src);
  const stale = await runs.register(p, { taskSequenceId: TS, versionNo: 1 }, src);
  now = new Date('2026-06-01T00:00:00Z');
  const recent = await runs.register(p, { taskSequenceId: TS, versionNo: 1 }, src);
  const { deleted, before } = await runs.prune(90 * 86400, { subject: 'admin', source: 'local' });
  assert.equal(deleted, 2);
  assert.equal(before, '2026-03-03T00:00:00.000Z');
  assert.deepEqual([...store.runs.keys()], [recent.id]);
  assert.equal(store.runs.has(old.id) || store.runs.has(stale.id), false);
  assert.ok(store.audit.some((e) => e.kind === 'run' && e.method === 'prune' && e.detail.deleted === 2));
  await assert.rejects(runs.prune(0, { subject: 'admin', source: 'local' }), (e) => isDeployrError(e, 'INVALID_INPUT'));
});

function scripts(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-scripts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'sub'));
  return dir;
}

test('a server-side script runs from the Scripts folder; its {name, value} lines become variables', async (t) => {
  const dir = scripts(t);
  writeFileSync(join(dir, 'info.sh'), 'echo "hello $1"\necho \'{"name":"Make","value":"HP"}\'\necho \'[{"Name":"Count","Value":3}]\'\necho oops >&2\nexit 4\n');
  const r = await runServerScript('info.sh', ['world'], { scriptsDir: dir });
  assert.equal(r.exitCode, 4);
  assert.deepEqual(r.variables, [{ name: 'Make', value: 'HP' }, { name: 'Count', value: '3' }]);
  assert.equal(r.output, 'hello world\noops');
  writeFileSync(join(dir, 'tool'), '#!/bin/sh\necho \'{"name":"Direct","value":"yes"}\'\n');
  chmodSync(join(dir, 'tool'), 0o755);
  assert.deepEqual((await runServerScript('tool', [], { scriptsDir: dir })).variables, [{ name: 'Direct', value: 'yes' }]);
});

test('script names with paths, missing scripts and non-executables are refused; a timeout stops the script', async (t) => {
  const dir = scripts(t);
  writeFileSync(join(dir, 'sub', 'x.sh'), 'exit 0\n');
  writeFileSync(join(dir, 'plain.txt'), 'not a program\n');
  writeFileSync(join(dir, 'slow.sh'), 'sleep 30\n');
  for (const name of ['../x.sh', 'sub/x.sh', '.hidden', 'a..b']) {
    await assert.rejects(runServerScript(name, [], { scriptsDir: dir }), (e) => isDeployrError(e, 'INVALID_INPUT'), name);
  }
  await assert.rejects(runServerScript('missing.sh', [], { scriptsDir: dir }), (e) => isDeployrError(e, 'NOT_FOUND'));
  await assert.rejects(runServerScript('plain.txt', [], { scriptsDir: dir }), (e) => isDeployrError(e, 'CONFLICT'));
  const slow = await runServerScript('slow.sh', [], { scriptsDir: dir, timeoutMs: 200 });
  assert.equal(slow.timedOut, true);
  assert.equal(slow.exitCode, null);
  assert.equal(parseVariableLine('{"name":"bad name","value":"x"}'), null);
});
