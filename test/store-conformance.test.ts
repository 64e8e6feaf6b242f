// One set of store cases run against every adapter (SQLite in a temporary file, PostgreSQL in a fresh schema), plus PostgreSQL cases with two stores on one schema (two nodes).

import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { AuditEvent, AuditKind } from '../src/domain/audit.js';
import type { ContentItem } from '../src/domain/content-item.js';
import { isDeployrError, type ErrorCode } from '../src/domain/errors.js';
import type { RunRecord, RunStepRecord } from '../src/domain/run.js';
import type { StoredScopedPasscode } from '../src/domain/scoped-passcode.js';
import { DEFAULT_SECURITY_SETTINGS, type SecuritySettings } from '../src/domain/security-settings.js';
import type { StepDefinition } from '../src/domain/step-definition.js';
import type { TaskSequence } from '../src/domain/task-sequence.js';
import { DEFAULT_THROTTLE_POLICY, type ThrottlePolicy } from '../src/domain/throttle.js';
import type { Store } from '../src/engine/ports.js';
import { openPostgresStore } from '../src/store/postgres/postgres-store.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { rowMac } from '../src/store/audit-chain.js';
import { freshSchemaUrl, pgAdmin, PG_BASE_URL, PG_REQUIRED, pgUnavailableReason } from './helpers/postgres.js';

/** One adapter's store under test, and what a test does to it behind the store's back. */
interface Harness {
  store: Store;
  /** Another store on the same database (another process or node). */
  openAnother(): Promise<Store>;
  /** Edits audit row `seq` around the append-only trigger. */
  tamperAudit(seq: number): Promise<void>;
  /** Marks the database as migrated by a newer deployr. */
  markNewerSchema(): Promise<void>;
  /** Closes every store it opened and removes the database. */
  cleanup(): Promise<void>;
}

interface Adapter {
  name: string;
  /** Null when it can run; otherwise why not. */
  unavailable(): Promise<string | null>;
  make(): Promise<Harness>;
}

const sqliteAdapter: Adapter = {
  name: 'sqlite',
  unavailable: async () => null,
  async make() {
    const dir = mkdtempSync(join(tmpdir(), 'deployr-conformance-'));
    const file = join(dir, 'deployr.db');
    const key = randomBytes(32);
    const stores: Store[] = [];
    const open = async (): Promise<Store> => { const s = openSqliteStore(file, key); stores.push(s); return s; };
    const raw = (fn: (db: Database.Database) => void): void => { const db = new Database(file); try { fn(db); } finally { db.close(); } };
    return {
      store: await open(),
      openAnother: open,
      tamperAudit: async (seq) => raw((db) => {
        db.exec('DROP TRIGGER audit_no_update');
        db.prepare("UPDATE audit SET reason = 'edited' WHERE seq = ?").run(seq);
      }),
      markNewerSchema: async () => raw((db) => { db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from the future', '2030-01-01T00:00:00.000Z')").run(); }),
      cleanup: async () => {
        for (const s of stores) await s.close().catch(() => { /* already closed */ });
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

const postgresAdapter: Adapter = {
  name: 'postgres',
  unavailable: pgUnavailableReason,
  async make() {
    const schema = await freshSchemaUrl();
    const key = randomBytes(32);
    const stores: Store[] = [];
    const open = async (): Promise<Store> => { const s = await openPostgresStore(schema.url, key); stores.push(s); return s; };
    return {
      store: await open(),
      openAnother: open,
      tamperAudit: async (seq) => {
        await pgAdmin(`ALTER TABLE ${schema.schema}.audit DISABLE TRIGGER audit_no_update`);
        await pgAdmin(`UPDATE ${schema.schema}.audit SET reason = 'edited' WHERE seq = $1`, [seq]);
      },
      markNewerSchema: async () => { await pgAdmin(`INSERT INTO ${schema.schema}.schema_migrations (version, name, applied_at) VALUES (999, 'from the future', '2030-01-01T00:00:00.000Z')`); },
      cleanup: async () => {
        for (const s of stores) await s.close().catch(() => { /* already closed */ });
        await schema.drop();
      },
    };
  },
};

function ev(kind: AuditKind, reason: string, detail: Record<string, unknown> = {}, method = 'test', result = 'changed'): AuditEvent {
  return { kind, method, result, reason, subject: 'admin', source: null, device: null, detail };
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isDeployrError(err, code), `expected ${code}, got ${String(err)}`);
    if (message) assert.match((err as Error).message, message);
    return true;
  });
}

const SECURITY: SecuritySettings = { ...DEFAULT_SECURITY_SETTINGS, bypass: true, rotationOverlapSeconds: 60 };

function taskSequence(id: string, name: string): TaskSequence {
  return { id, name, description: null, steps: [] } as unknown as TaskSequence;
}

function stepDefinition(id: string, name: string): StepDefinition {
  return { id, name, description: null } as unknown as StepDefinition;
}

function contentItem(id: string, name: string, description: string | null = null): ContentItem {
  return { id, name, description, contentItemPurpose: 'Other', type: 'File', versions: [] } as unknown as ContentItem;
}

function run(id: string, over: Partial<RunRecord> = {}): RunRecord {
  return {
    id, taskSequenceId: 'ts-1', versionNo: 1, name: 'Deploy', device: 'pc-1', deviceInfo: null, subject: 'passcode', method: 'passcode',
    context: 'boot', status: 'running', startedAt: '2026-01-01T00:00:00.000Z', finishedAt: null, currentStep: null, stepsTotal: 3,
    message: null, updatedAt: '2026-01-01T00:00:00.000Z', reportBy: null, ...over,
  };
}

function step(key: string, status: RunStepRecord['status'] = 'running'): RunStepRecord {
  return { key, stepId: key, name: `Step ${key}`, status, exitCode: status === 'running' ? null : 0, durationMs: null, outputTail: null, message: null, startedAt: '2026-01-01T00:00:01.000Z', finishedAt: null };
}

function scopedPasscode(name: string, over: Partial<StoredScopedPasscode> = {}): StoredScopedPasscode {
  return {
    id: `id-${name}-${randomBytes(4).toString('hex')}`, name, hash: '$argon2id$fake', publicId: null, scope: { taskSequences: [], sources: [], context: null },
    expiresAt: null, maxUses: null, uses: 0, createdAt: new Date().toISOString(), createdBy: 'admin', lastUsedAt: null, revokedAt: null, ...over,
  } as StoredScopedPasscode;
}

const LOGIN: AuditEvent = { kind: 'login', method: 'passcode', result: 'success', reason: 'ok', subject: 'passcode', source: '10.0.0.1', device: null, detail: {} };
const FAILED: AuditEvent = { ...LOGIN, result: 'failure', reason: 'wrong_passcode' };

async function auditCount(store: Store): Promise<number> {
  return (await store.list({})).length;
}

/** The cases every adapter must pass. */
const CASES: { name: string; run(h: Harness): Promise<void> }[] = [
  {
    name: 'security settings: defaults, save, revision, and a stale save refused with nothing written',
    async run({ store }) {
      const initial = await store.getSecurity();
      assert.equal(initial.revision, 0);
      assert.deepEqual(initial.settings, { ...DEFAULT_SECURITY_SETTINGS });
      assert.equal(await store.getSecurityRevision(), 0);
      assert.equal(await store.saveSecurity(SECURITY, 0, [ev('settings', 'bypass_set')]), 1);
      assert.equal(await store.getSecurityRevision(), 1);
      const saved = await store.getSecurity();
      assert.equal(saved.revision, 1);
      assert.deepEqual(saved.settings, SECURITY);
      await rejectsWith(store.saveSecurity(DEFAULT_SECURITY_SETTINGS, 0, [ev('settings', 'stale')]), 'CONFLICT', /changed by someone else meanwhile; nothing was saved/);
      const audit = await store.list({});
      assert.deepEqual(audit.map((e) => [e.reason, e.detail.revision]), [['bypass_set', 1]]);
      assert.equal(await store.getSecurityRevision(), 1);
    },
  },
  {
    name: 'audit: append, list with filters and limit, verify',
    async run({ store }) {
      const a = await store.append(ev('settings', 'one', { n: 1 }, 'security', 'changed'));
      await store.append(ev('content', 'two', {}, 'import', 'created'));
      await store.append(ev('login', 'three', {}, 'passcode', 'failure'));
      assert.equal(a.seq, 1);
      assert.match(a.mac, /^[0-9a-f]{64}$/);
      assert.deepEqual(a.detail, { n: 1 });
      const all = await store.list({});
      assert.deepEqual(all.map((e) => [e.seq, e.reason]), [[1, 'one'], [2, 'two'], [3, 'three']]);
      assert.deepEqual(all[0], a);
      assert.deepEqual((await store.list({ kind: 'content' })).map((e) => e.reason), ['two']);
      assert.deepEqual((await store.list({ method: 'passcode' })).map((e) => e.reason), ['three']);
      assert.deepEqual((await store.list({ result: 'created' })).map((e) => e.reason), ['two']);
      assert.deepEqual((await store.list({ limit: 2 })).map((e) => e.reason), ['two', 'three']);
      assert.deepEqual(await store.list({ since: '2999-01-01T00:00:00.000Z' }), []);
      assert.equal((await store.list({ since: a.at })).length, 3);
      assert.deepEqual(await store.verify(), { ok: true, checked: 3, brokenAt: null });
    },
  },
  {
    name: 'audit: an edited row breaks the chain where it was edited',
    async run(h) {
      for (const r of ['one', 'two', 'three']) await h.store.append(ev('settings', r));
      await h.tamperAudit(2);
      assert.deepEqual(await h.store.verify(), { ok: false, checked: 1, brokenAt: 2 });
    },
  },
  {
    name: 'throttle: failures count per key and globally, success clears, repeats are not escalated',
    async run({ store }) {
      const keys = ['ip:10.0.0.1', 'src:10.0.0.1|pc-1'];
      const empty = await store.throttleState(keys);
      assert.equal(empty.records.get('ip:10.0.0.1')?.failures, 0);
      assert.deepEqual(empty.global, { consecutiveFailures: 0, alertSince: 0 });
      const now = Date.parse('2026-01-01T00:00:00.000Z');
      const first = await store.recordFailure({ keys, digest: 'd1', now, policy: DEFAULT_THROTTLE_POLICY, event: FAILED });
      assert.deepEqual(first, { alertRaised: false, global: { consecutiveFailures: 1, alertSince: 0 } });
      await store.recordFailure({ keys, digest: 'd2', now: now + 1, policy: DEFAULT_THROTTLE_POLICY, event: FAILED });
      const repeat = await store.recordFailure({ keys, digest: 'd2', now: now + 2, policy: DEFAULT_THROTTLE_POLICY, event: FAILED });
      assert.equal(repeat.global.consecutiveFailures, 2);
      const state = await store.throttleState(keys);
      assert.equal(state.records.get('src:10.0.0.1|pc-1')?.failures, 2);
      assert.equal(state.records.get('src:10.0.0.1|pc-1')?.lastDigest, 'd2');
      assert.equal(state.global.consecutiveFailures, 2);
      const audit = await store.list({ kind: 'login' });
      assert.deepEqual(audit.map((e) => e.detail.repeat ?? false), [false, false, true]);
      const listed = await store.listThrottle();
      assert.deepEqual(listed.records.map((r) => [r.key, r.record.failures]), [['ip:10.0.0.1', 2], ['src:10.0.0.1|pc-1', 2]]);
      const success = await store.recordSuccess({ keys, event: LOGIN });
      assert.equal(success.result, 'success');
      assert.equal(success.seq, 4);
      assert.deepEqual((await store.listThrottle()).records, []);
      assert.deepEqual((await store.throttleState(keys)).global, { consecutiveFailures: 0, alertSince: 0 });
    },
  },
  {
    name: 'throttle: the global alert is raised and cleared with its audit rows; an administrator clears by address or all',
    async run({ store }) {
      const policy: ThrottlePolicy = { ...DEFAULT_THROTTLE_POLICY, globalAlertThreshold: 2 };
      const now = Date.parse('2026-01-01T00:00:00.000Z');
      assert.equal((await store.recordFailure({ keys: ['ip:10.0.0.1', 'src:10.0.0.1|a'], digest: 'x1', now, policy, event: FAILED })).alertRaised, false);
      const raised = await store.recordFailure({ keys: ['ip:10.0.0.2', 'src:10.0.0.2|b'], digest: 'x2', now: now + 1, policy, event: FAILED });
      assert.equal(raised.alertRaised, true);
      assert.equal(raised.global.alertSince, now + 1);
      assert.deepEqual((await store.list({ kind: 'alert' })).map((e) => e.result), ['raised']);
      // An address that is a prefix of another is not cleared with it (no wildcard).
      await store.recordFailure({ keys: ['ip:10.0.0.10'], digest: 'x3', now: now + 2, policy, event: FAILED });
      const byAddress = await store.clearThrottle({ address: '10.0.0.1', event: ev('throttle', 'cleared_address', {}, 'clear', 'cleared') });
      assert.deepEqual(byAddress, { cleared: 2, alertCleared: false });
      assert.deepEqual((await store.listThrottle()).records.map((r) => r.key), ['ip:10.0.0.10', 'ip:10.0.0.2', 'src:10.0.0.2|b']);
      const all = await store.clearThrottle({ all: true, resetAlert: true, event: ev('throttle', 'cleared_all', {}, 'clear', 'cleared') });
      assert.deepEqual(all, { cleared: 3, alertCleared: true });
      const cleared = await store.list({ kind: 'throttle' });
      assert.deepEqual(cleared.map((e) => [e.detail.cleared, e.detail.alertCleared, e.detail.consecutiveFailures]), [[2, false, undefined], [3, true, 3]]);
      assert.deepEqual(await store.listThrottle(), { records: [], global: { consecutiveFailures: 0, alertSince: 0 } });
      assert.equal((await store.verify()).ok, true);
    },
  },
  {
    name: 'throttle: a success while the alert is raised writes the alert cleared row',
    async run({ store }) {
      const policy: ThrottlePolicy = { ...DEFAULT_THROTTLE_POLICY, globalAlertThreshold: 1 };
      assert.equal((await store.recordFailure({ keys: ['ip:10.0.0.1'], digest: 'x', now: Date.now(), policy, event: FAILED })).alertRaised, true);
      await store.recordSuccess({ keys: ['ip:10.0.0.1'], event: LOGIN });
      assert.deepEqual((await store.list({ kind: 'alert' })).map((e) => [e.result, e.reason]), [['raised', 'global_failure_threshold'], ['cleared', 'login_succeeded']]);
    },
  },
  {
    name: 'throttle: 200 successful logins at once (a boot storm) while the alert is raised: each gets its own row, one alert cleared row right after the first, one chain',
    async run({ store }) {
      const policy: ThrottlePolicy = { ...DEFAULT_THROTTLE_POLICY, globalAlertThreshold: 1 };
      await store.recordFailure({ keys: ['ip:10.0.0.2'], digest: 'x', now: Date.now(), policy, event: FAILED });
      const entries = await Promise.all(Array.from({ length: 200 }, (_, i) => store.recordSuccess({ keys: [`ip:10.1.0.${i % 250}`, 'ip:10.0.0.2'], event: { ...LOGIN, device: `storm-${i}` } })));
      assert.deepEqual(entries.map((e) => e.device), Array.from({ length: 200 }, (_, i) => `storm-${i}`), 'each login resolves with its own row');
      assert.equal(new Set(entries.map((e) => e.seq)).size, 200);
      const rows = await store.list({});
      const cleared = rows.filter((e) => e.kind === 'alert' && e.result === 'cleared');
      assert.equal(cleared.length, 1);
      const first = Math.min(...entries.map((e) => e.seq));
      assert.equal(cleared[0]!.seq, first + 1, 'the alert cleared row follows the login that cleared it');
      assert.deepEqual(await store.verify(), { ok: true, checked: 203, brokenAt: null }, 'failure, alert raised, 200 logins, alert cleared');
      const state = await store.throttleState(['ip:10.0.0.2']);
      assert.equal(state.records.get('ip:10.0.0.2')?.failures, 0);
      assert.deepEqual(state.global, { consecutiveFailures: 0, alertSince: 0 });
    },
  },
  {
    name: 'scoped passcodes: add, conflicts, revision moves, uses taken up to the limit, revoke',
    async run({ store }) {
      const before = await store.getSecurityRevision();
      const p = scopedPasscode('lab', { maxUses: 2, publicId: 'ABCD' });
      await store.addScopedPasscode(p, ev('settings', 'scoped_added', {}, 'scoped-passcode', 'created'));
      assert.equal(await store.getSecurityRevision(), before + 1);
      await rejectsWith(store.addScopedPasscode(scopedPasscode('lab'), ev('settings', 'dup')), 'CONFLICT', /already a scoped passcode named lab/);
      await assert.rejects(store.addScopedPasscode(scopedPasscode('other', { publicId: 'ABCD' }), ev('settings', 'dup')), (err: unknown) => isDeployrError(err, 'CONFLICT') && err.details.publicIdTaken === true);
      assert.equal(await store.getSecurityRevision(), before + 1);
      assert.deepEqual(await store.listScopedPasscodes(), [p]);
      const login = (at: string): Promise<boolean> => store.recordScopedPasscodeLogin({ id: p.id, at, keys: ['ip:10.0.0.1'], event: LOGIN });
      assert.equal(await login('2026-01-01T00:00:00.000Z'), true);
      assert.equal(await login('2026-01-01T00:00:01.000Z'), true);
      assert.equal(await login('2026-01-01T00:00:02.000Z'), false);
      const [used] = await store.listScopedPasscodes();
      assert.equal(used?.uses, 2);
      assert.equal(used?.lastUsedAt, '2026-01-01T00:00:01.000Z');
      assert.equal((await store.list({ kind: 'login' })).length, 2);
      const expiring = scopedPasscode('expiring', { expiresAt: '2026-01-01T00:00:00.000Z' });
      await store.addScopedPasscode(expiring, ev('settings', 'scoped_added'));
      assert.equal(await store.recordScopedPasscodeLogin({ id: expiring.id, at: '2026-01-01T00:00:00.000Z', keys: [], event: LOGIN }), false);
      const revoked = await store.revokeScopedPasscode('lab', '2026-02-01T00:00:00.000Z', ev('settings', 'scoped_revoked'));
      assert.equal(revoked.revokedAt, '2026-02-01T00:00:00.000Z');
      assert.equal(revoked.uses, 2);
      assert.equal(await store.getSecurityRevision(), before + 3);
      await rejectsWith(store.revokeScopedPasscode('lab', '2026-02-01T00:00:00.000Z', ev('settings', 'again')), 'NOT_FOUND', /No scoped passcode named lab/);
      // A revoked one frees its name and public id.
      await store.addScopedPasscode(scopedPasscode('lab', { publicId: 'ABCD' }), ev('settings', 'scoped_added'));
      assert.deepEqual((await store.listScopedPasscodes()).map((s) => [s.name, s.revokedAt !== null]), [['lab', true], ['expiring', false], ['lab', false]]);
      assert.deepEqual((await store.verify()).ok, true);
    },
  },
  {
    name: 'signing keys: the first key once, rotation with its expected kid, reseal',
    async run({ store }) {
      assert.deepEqual(await store.listSigningKeys(), []);
      await store.addFirstSigningKey({ kid: 'k1', sealedPrivateKey: 'sealed-1', publicJwk: { kty: 'OKP', x: '1' } });
      await store.addFirstSigningKey({ kid: 'k0', sealedPrivateKey: 'sealed-0', publicJwk: { kty: 'OKP', x: '0' } });
      const first = await store.listSigningKeys();
      assert.deepEqual(first.map((k) => [k.kid, k.sealedPrivateKey, k.supersededAt, k.verifyUntil]), [['k1', 'sealed-1', null, null]]);
      assert.deepEqual(first[0]?.publicJwk, { kty: 'OKP', x: '1' });
      const rotate = (expectedActiveKid: string, kid: string): Promise<void> => store.rotateSigningKey({
        expectedActiveKid, next: { kid, sealedPrivateKey: `sealed-${kid}`, publicJwk: { kty: 'OKP', x: kid } }, verifyUntil: '2030-01-01T00:00:00.000Z', event: ev('keys', 'rotated', {}, 'signing-key', 'rotated'),
      });
      await rejectsWith(rotate('nope', 'k2'), 'CONFLICT', /signing keys were changed by someone else/);
      await rotate('k1', 'k2');
      const rotated = await store.listSigningKeys();
      assert.deepEqual(rotated.map((k) => [k.kid, k.sealedPrivateKey, k.supersededAt !== null, k.verifyUntil]), [['k1', '', true, '2030-01-01T00:00:00.000Z'], ['k2', 'sealed-k2', false, null]]);
      await rejectsWith(store.resealSigningKeys([{ kid: 'k2', expected: 'wrong', sealed: 'resealed' }], ev('keys', 'sealed')), 'CONFLICT');
      assert.equal((await store.listSigningKeys())[1]?.sealedPrivateKey, 'sealed-k2');
      await store.resealSigningKeys([{ kid: 'k2', expected: 'sealed-k2', sealed: 'resealed' }], ev('keys', 'sealed', {}, 'signing-key', 'sealed'));
      assert.equal((await store.listSigningKeys())[1]?.sealedPrivateKey, 'resealed');
      assert.deepEqual((await store.list({ kind: 'keys' })).map((e) => e.reason), ['rotated', 'sealed']);
    },
  },
  {
    name: 'task sequences: put, replace, get, list by name, delete',
    async run({ store }) {
      await store.putTaskSequence(taskSequence('b', 'Zeta'), ev('task-sequence', 'imported'));
      await store.putTaskSequence(taskSequence('a', 'Alpha'), ev('task-sequence', 'imported'));
      await store.putTaskSequence(taskSequence('c', 'Beta'), ev('task-sequence', 'imported'));
      assert.deepEqual((await store.listTaskSequences()).map((t) => t.name), ['Alpha', 'Beta', 'Zeta']);
      await store.putTaskSequence(taskSequence('b', 'Aardvark'), ev('task-sequence', 'replaced'));
      assert.deepEqual((await store.listTaskSequences()).map((t) => t.id), ['b', 'a', 'c']);
      assert.deepEqual(await store.getTaskSequence('b'), taskSequence('b', 'Aardvark'));
      assert.equal(await store.getTaskSequence('zz'), null);
      assert.equal(await store.deleteTaskSequence('a', ev('task-sequence', 'deleted')), true);
      assert.equal(await store.deleteTaskSequence('a', ev('task-sequence', 'deleted')), false);
      assert.deepEqual((await store.listTaskSequences()).map((t) => t.id), ['b', 'c']);
      assert.equal((await store.list({ kind: 'task-sequence' })).length, 5);
    },
  },
  {
    name: 'step definitions: put, replace, get, list by name, delete',
    async run({ store }) {
      await store.putStepDefinition(stepDefinition('s2', 'Second'), ev('step-definition', 'saved'));
      await store.putStepDefinition(stepDefinition('s1', 'First'), ev('step-definition', 'saved'));
      assert.deepEqual((await store.listStepDefinitions()).map((s) => s.id), ['s1', 's2']);
      await store.putStepDefinition(stepDefinition('s1', 'Third'), ev('step-definition', 'saved'));
      assert.deepEqual((await store.listStepDefinitions()).map((s) => s.id), ['s2', 's1']);
      assert.deepEqual(await store.getStepDefinition('s1'), stepDefinition('s1', 'Third'));
      assert.equal(await store.getStepDefinition('nope'), null);
      assert.equal(await store.deleteStepDefinition('s1', ev('step-definition', 'deleted')), true);
      assert.equal(await store.deleteStepDefinition('s1', ev('step-definition', 'deleted')), false);
      assert.equal((await store.list({ kind: 'step-definition' })).length, 4);
    },
  },
  {
    name: 'content items: put, compare-and-set conflicts (nothing written), delete',
    async run({ store }) {
      const one = contentItem('c1', 'Drivers');
      await store.putContentItem(one, ev('content', 'created'));
      await rejectsWith(store.putContentItem(contentItem('c1', 'Other'), ev('content', 'x'), null), 'CONFLICT', /Content item c1 was changed by someone else meanwhile; nothing was saved/);
      await rejectsWith(store.putContentItem(contentItem('c2', 'New'), ev('content', 'x'), one), 'CONFLICT');
      const two = contentItem('c1', 'Drivers', 'updated');
      await store.putContentItem(two, ev('content', 'replaced'), one);
      await store.putContentItem(contentItem('c0', 'Apps'), ev('content', 'created'), null);
      assert.deepEqual(await store.getContentItem('c1'), two);
      assert.equal(await store.getContentItem('none'), null);
      assert.deepEqual((await store.listContentItems()).map((c) => c.id), ['c0', 'c1']);
      await rejectsWith(store.deleteContentItem(one, ev('content', 'deleted')), 'CONFLICT', /nothing was deleted/);
      await store.deleteContentItem(two, ev('content', 'deleted'));
      assert.deepEqual((await store.listContentItems()).map((c) => c.id), ['c0']);
      assert.deepEqual((await store.list({ kind: 'content' })).map((e) => e.reason), ['created', 'replaced', 'created', 'deleted']);
    },
  },
  {
    name: 'runs: create, owner, list with filters, update, steps in first-reported order, logs, delete',
    async run({ store }) {
      await store.createRun(run('r1', { startedAt: '2026-01-01T00:00:00.000Z' }), 'tok-a');
      await store.createRun(run('r2', { startedAt: '2026-01-02T00:00:00.000Z', taskSequenceId: 'ts-2' }), 'tok-b');
      await store.createRun(run('r3', { startedAt: '2026-01-03T00:00:00.000Z' }));
      assert.deepEqual(await store.getRun('r1'), run('r1'));
      assert.equal(await store.getRun('none'), null);
      assert.equal(await store.getRunOwner('r1'), 'tok-a');
      assert.equal(await store.getRunOwner('r3'), null);
      assert.equal(await store.getRunOwner('none'), null);
      await store.setRunOwner('r3', 'tok-a');
      assert.deepEqual((await store.listRuns({})).map((r) => r.id), ['r3', 'r2', 'r1']);
      assert.deepEqual((await store.listRuns({ taskSequenceId: 'ts-1' })).map((r) => r.id), ['r3', 'r1']);
      assert.deepEqual((await store.listRuns({ ownerTokenId: 'tok-a', limit: 1 })).map((r) => r.id), ['r3']);
      const updated = await store.updateRun('r1', { status: 'interrupted', deviceInfo: { hostname: 'lab-7', macs: ['52:54:00:12:34:56'] }, updatedAt: '2026-01-05T00:00:00.000Z', stepsTotal: null });
      assert.deepEqual(updated, { ...run('r1'), status: 'interrupted', deviceInfo: { hostname: 'lab-7', macs: ['52:54:00:12:34:56'] }, updatedAt: '2026-01-05T00:00:00.000Z', stepsTotal: null });
      assert.equal(await store.updateRun('none', { status: 'failed' }), null);
      await store.putRunStep('r1', step('a'));
      await store.putRunStep('r1', step('b'));
      await store.putRunStep('r1', step('a', 'succeeded'));
      assert.deepEqual((await store.listRunSteps('r1')).map((s) => [s.key, s.status]), [['a', 'succeeded'], ['b', 'running']]);
      assert.deepEqual((await store.listRunSteps('r1'))[0], step('a', 'succeeded'));
      assert.equal(await store.reportRunStep?.('none', step('x'), { currentStep: 'x' }), null);
      const reported = await store.reportRunStep?.('r1', step('c'), { currentStep: 'Step c' });
      if (store.reportRunStep) assert.equal(reported?.currentStep, 'Step c');
      assert.deepEqual((await store.listRunSteps('r1')).map((s) => s.key), store.reportRunStep ? ['a', 'b', 'c'] : ['a', 'b']);
      assert.equal(await store.runLogLength('r1'), 0);
      await store.appendRunLog('r1', 'hello ');
      await store.appendRunLog('r1', 'wörld');
      assert.equal(await store.runLogLength('r1'), 11);
      assert.equal(await store.getRunLog('r1'), 'hello wörld');
      const deleted = await store.deleteRun('r1', ev('run', 'deleted', {}, 'delete', 'deleted'));
      assert.equal(deleted?.id, 'r1');
      assert.equal(await store.getRun('r1'), null);
      assert.deepEqual(await store.listRunSteps('r1'), []);
      assert.equal(await store.getRunLog('r1'), '');
      assert.equal(await store.deleteRun('r1', ev('run', 'deleted')), null);
      assert.equal((await store.list({ kind: 'run' })).length, 1);
      await store.putRunStep('r2', step('z'));
      await store.appendRunLog('r2', 'x');
      await store.updateRun('r3', { updatedAt: '2026-02-01T00:00:00.000Z' });
      assert.equal(await store.deleteRunsBefore('2026-01-15T00:00:00.000Z'), 1);
      assert.deepEqual((await store.listRuns({})).map((r) => r.id), ['r3']);
      assert.deepEqual(await store.listRunSteps('r2'), []);
    },
  },
  {
    name: 'administrators and sessions: conflicts, the last admin kept, sessions ended with password and role changes',
    async run({ store }) {
      const admin = (name: string, role: 'admin' | 'operator' | 'viewer') => ({ name, role, passwordHash: `hash-${name}`, createdAt: '2026-01-01T00:00:00.000Z', passwordChangedAt: '2026-01-01T00:00:00.000Z' });
      await store.addAdministrator(admin('root', 'admin'), ev('administrator', 'added'));
      await rejectsWith(store.addAdministrator(admin('root', 'viewer'), ev('administrator', 'added')), 'CONFLICT', /already an administrator named root/);
      await store.addAdministrator(admin('bob', 'viewer'), ev('administrator', 'added'));
      assert.deepEqual((await store.listAdministrators()).map((a) => a.name), ['bob', 'root']);
      assert.deepEqual(await store.getAdministrator('root'), admin('root', 'admin'));
      assert.equal(await store.getAdministrator('nobody'), null);
      await rejectsWith(store.setAdministratorRole('root', 'viewer', ev('administrator', 'role')), 'CONFLICT', /last administrator with the admin role/);
      await rejectsWith(store.removeAdministrator('root', ev('administrator', 'removed')), 'CONFLICT', /last administrator/);
      await rejectsWith(store.removeAdministrator('nobody', ev('administrator', 'removed')), 'NOT_FOUND', /No administrator named nobody/);
      await rejectsWith(store.setAdministratorPassword('nobody', 'h', '2026-01-02T00:00:00.000Z', ev('administrator', 'password')), 'NOT_FOUND');
      await rejectsWith(store.setAdministratorRole('nobody', 'admin', ev('administrator', 'role')), 'NOT_FOUND');
      const session = (idHash: string, name: string, createdAt: number) => ({ idHash, name, createdAt, lastSeenAt: createdAt, source: '127.0.0.1' });
      await store.createAdminSession(session('s1', 'bob', 1000));
      await store.createAdminSession(session('s2', 'root', 1000));
      await store.createAdminSession(session('s3', 'root', 5000));
      assert.deepEqual(await store.getAdminSession('s1'), session('s1', 'bob', 1000));
      await store.touchAdminSession('s2', 3000);
      await store.touchAdminSession('s2', 2000);
      assert.equal((await store.getAdminSession('s2'))?.lastSeenAt, 3000);
      await store.setAdministratorPassword('bob', 'new-hash', '2026-01-02T00:00:00.000Z', ev('administrator', 'password'));
      assert.equal((await store.getAdministrator('bob'))?.passwordHash, 'new-hash');
      assert.equal(await store.getAdminSession('s1'), null);
      await store.setAdministratorRole('bob', 'admin', ev('administrator', 'role'));
      await store.setAdministratorRole('root', 'operator', ev('administrator', 'role'));
      assert.equal(await store.getAdminSession('s2'), null);
      await store.createAdminSession(session('s4', 'root', 100));
      await store.createAdminSession(session('s5', 'root', 9000));
      assert.equal(await store.deleteExpiredAdminSessions(200, 0), 1);
      assert.equal(await store.deleteExpiredAdminSessions(0, 6000), 0);
      assert.equal(await store.deleteExpiredAdminSessions(9000, 0), 0);
      await store.deleteAdminSession('s5');
      assert.equal(await store.getAdminSession('s5'), null);
      await store.removeAdministrator('root', ev('administrator', 'removed'));
      assert.deepEqual((await store.listAdministrators()).map((a) => [a.name, a.role]), [['bob', 'admin']]);
      assert.equal((await store.list({ kind: 'administrator' })).length, 6);
    },
  },
  {
    name: 'run watch: runs changed since, run counts by status',
    async run({ store }) {
      await store.createRun(run('r1', { startedAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:03.000Z' }));
      await store.createRun(run('r2', { startedAt: '2026-01-02T00:00:00.000Z', updatedAt: '2026-01-01T00:00:01.000Z', status: 'failed' }));
      await store.createRun(run('r3', { startedAt: '2026-01-03T00:00:00.000Z', updatedAt: '2026-01-01T00:00:02.000Z', status: 'failed' }));
      assert.deepEqual((await store.runsChangedSince('2026-01-01T00:00:02.000Z', 10)).map((r) => r.id), ['r3', 'r1']);
      assert.deepEqual((await store.runsChangedSince('2026-01-01T00:00:00.000Z', 2)).map((r) => r.id), ['r2', 'r3']);
      assert.deepEqual(await store.runCountsSince('2026-01-02T00:00:00.000Z'), { failed: 2 });
      assert.deepEqual(await store.runCountsSince('2026-01-01T00:00:00.000Z'), { failed: 2, running: 1 });
    },
  },
  {
    name: 'key check: the first value is kept, a different one is refused; integrity check',
    async run(h) {
      assert.equal(await h.store.recordKeyCheck('aaa'), true);
      assert.equal(await h.store.recordKeyCheck('aaa'), true);
      assert.equal(await h.store.recordKeyCheck('bbb'), false);
      const other = await h.openAnother();
      assert.equal(await other.recordKeyCheck('aaa'), true);
      await h.store.append(ev('settings', 'x'));
      assert.equal(await h.store.integrityCheck(), 'ok');
    },
  },
  {
    name: 'a database migrated by a newer deployr is refused (INTEGRITY)',
    async run(h) {
      await h.markNewerSchema();
      await rejectsWith(h.openAnother(), 'INTEGRITY', /The database's schema is version 999, newer than this deployr knows \(9\): run the newer deployr, or restore a backup made before the upgrade\./);
    },
  },
];

/** Runs `body` with a fresh harness of `adapter`, or skips (or fails, when required) when the adapter cannot run here. */
async function withHarness(t: { skip(message: string): void; after(fn: () => Promise<void>): void }, adapter: Adapter, body: (h: Harness) => Promise<void>): Promise<void> {
  const reason = await adapter.unavailable();
  if (reason !== null) {
    if (adapter.name === 'postgres' && PG_REQUIRED) assert.fail(`${reason} (DEPLOYR_PG_TESTS=required)`);
    t.skip(`${reason}; set DEPLOYR_TEST_PG_URL, or DEPLOYR_PG_TESTS=required to fail instead`);
    return;
  }
  const h = await adapter.make();
  t.after(() => h.cleanup());
  await body(h);
}

for (const adapter of [sqliteAdapter, postgresAdapter]) {
  for (const c of CASES) {
    test(`${adapter.name}: ${c.name}`, (t) => withHarness(t, adapter, c.run));
  }
}

// Two stores on one schema: what two nodes sharing the database do at once.

test('postgres, two nodes: 200 concurrent audit appends from each form one unbroken chain of 400', (t) => withHarness(t, postgresAdapter, async (h) => {
  const other = await h.openAnother();
  await Promise.all([h.store, other].flatMap((s, node) => Array.from({ length: 200 }, (_, i) => s.append(ev('settings', `n${node}-${i}`)))));
  assert.deepEqual(await h.store.verify(), { ok: true, checked: 400, brokenAt: null });
  const seqs = (await other.list({})).map((e) => e.seq);
  assert.deepEqual(seqs, Array.from({ length: 400 }, (_, i) => i + 1));
}));

test('postgres, two nodes: failures recorded on both at once all count', (t) => withHarness(t, postgresAdapter, async (h) => {
  const other = await h.openAnother();
  const keys = ['ip:10.9.9.9'];
  const policy: ThrottlePolicy = { ...DEFAULT_THROTTLE_POLICY, globalAlertThreshold: 1_000 };
  const now = Date.now();
  await Promise.all([h.store, other].flatMap((s, node) => Array.from({ length: 25 }, (_, i) => s.recordFailure({ keys, digest: `d-${node}-${i}`, now: now + i, policy, event: FAILED }))));
  const state = await other.throttleState(keys);
  assert.equal(state.records.get('ip:10.9.9.9')?.failures, 50);
  assert.equal(state.global.consecutiveFailures, 50);
  assert.equal(await auditCount(h.store), 50);
  assert.equal((await h.store.verify()).ok, true);
}));

test('postgres, two nodes: a scoped passcode with 10 uses signs in exactly 10 times across both', (t) => withHarness(t, postgresAdapter, async (h) => {
  const other = await h.openAnother();
  const p = scopedPasscode('shared', { maxUses: 10 });
  await h.store.addScopedPasscode(p, ev('settings', 'scoped_added'));
  const at = new Date().toISOString();
  const results = await Promise.all([h.store, other].flatMap((s) => Array.from({ length: 15 }, () => s.recordScopedPasscodeLogin({ id: p.id, at, keys: [], event: LOGIN }))));
  assert.equal(results.filter(Boolean).length, 10);
  assert.equal((await other.listScopedPasscodes())[0]?.uses, 10);
}));

test('postgres, two nodes: a save on one is seen by the other\'s getSecurityRevision within a second', (t) => withHarness(t, postgresAdapter, async (h) => {
  const other = await h.openAnother();
  assert.equal(await other.getSecurityRevision(), 0);
  for (const expected of [1, 2]) {
    await h.store.saveSecurity(SECURITY, expected - 1, [ev('settings', 'saved')]);
    const deadline = performance.now() + 1000;
    let seen = await other.getSecurityRevision();
    while (seen !== expected && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      seen = await other.getSecurityRevision();
    }
    assert.equal(seen, expected);
  }
  // A scoped passcode added on the other node moves the revision the first one sees.
  await other.addScopedPasscode(scopedPasscode('x'), ev('settings', 'scoped_added'));
  const deadline = performance.now() + 1000;
  while (await h.store.getSecurityRevision() !== 3 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(await h.store.getSecurityRevision(), 3);
}));

test('postgres, two nodes: a task sequence saved or deleted on one is listed accordingly by the other within a second', (t) => withHarness(t, postgresAdapter, async (h) => {
  const other = await h.openAnother();
  assert.deepEqual(await other.listTaskSequences(), []);
  const waitFor = async (ids: string[]): Promise<void> => {
    const deadline = performance.now() + 1000;
    let seen = (await other.listTaskSequences()).map((x) => x.id);
    while (JSON.stringify(seen) !== JSON.stringify(ids) && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      seen = (await other.listTaskSequences()).map((x) => x.id);
    }
    assert.deepEqual(seen, ids);
  };
  await h.store.putTaskSequence(taskSequence('t1', 'One'), ev('task-sequence', 'imported'));
  await waitFor(['t1']);
  assert.ok(Object.isFrozen(await other.listTaskSequences()));
  await h.store.deleteTaskSequence('t1', ev('task-sequence', 'deleted'));
  await waitFor([]);
}));

test('postgres, two nodes: log pieces and steps of one run reported on both at once all land, each in its own position', (t) => withHarness(t, postgresAdapter, async (h) => {
  const other = await h.openAnother();
  await h.store.createRun(run('r1'));
  await Promise.all([h.store, other].flatMap((s, node) => Array.from({ length: 30 }, (_, i) => s.appendRunLog('r1', `[${node}-${i}]`))));
  const log = await other.getRunLog('r1');
  for (let node = 0; node < 2; node += 1) for (let i = 0; i < 30; i += 1) assert.ok(log.includes(`[${node}-${i}]`));
  assert.equal(await h.store.runLogLength('r1'), log.length);
  await Promise.all([h.store, other].flatMap((s, node) => Array.from({ length: 20 }, (_, i) => s.putRunStep('r1', step(`n${node}-s${i}`)))));
  assert.equal(new Set((await h.store.listRunSteps('r1')).map((x) => x.key)).size, 40);
  // Deleting old runs while a node still writes to them: either the piece lands first and goes with the run, or it fails for want of the run.
  const writes = Promise.allSettled(Array.from({ length: 10 }, (_, i) => other.appendRunLog('r1', `late-${i}`)));
  assert.equal(await h.store.deleteRunsBefore('2030-01-01T00:00:00.000Z'), 1);
  await writes;
  assert.equal(await h.store.getRun('r1'), null);
  assert.equal(await other.getRunLog('r1'), '');
}));

test('postgres: verify reads a long chain page by page and finds an edit far into it', async (t) => {
  const reason = await pgUnavailableReason();
  if (reason !== null) {
    if (PG_REQUIRED) assert.fail(`${reason} (DEPLOYR_PG_TESTS=required)`);
    t.skip(`${reason}; set DEPLOYR_TEST_PG_URL, or DEPLOYR_PG_TESTS=required to fail instead`);
    return;
  }
  const fresh = await freshSchemaUrl();
  const key = randomBytes(32);
  const store = await openPostgresStore(fresh.url, key);
  t.after(async () => { await store.close(); await fresh.drop(); });
  // 4500 rows written straight in (with the MACs the store would write), in one statement.
  const values: unknown[] = [];
  const tuples: string[] = [];
  let previous = '';
  for (let seq = 1; seq <= 4500; seq += 1) {
    const row = { seq, at: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, seq)).toISOString(), kind: 'settings', method: 'm', result: 'r', reason: `n${seq}`, subject: 's', source: null, device: null, detail: '{}' };
    const mac = rowMac(key, previous, row);
    previous = mac;
    const base = values.length;
    values.push(row.seq, row.at, row.kind, row.method, row.result, row.reason, row.subject, row.source, row.device, row.detail, mac);
    tuples.push(`(${Array.from({ length: 11 }, (_, i) => `$${base + i + 1}`).join(', ')})`);
  }
  await pgAdmin(`INSERT INTO ${fresh.schema}.audit (seq, at, kind, method, result, reason, subject, source, device, detail, mac) VALUES ${tuples.join(', ')}`, values);
  assert.deepEqual(await store.verify(), { ok: true, checked: 4500, brokenAt: null });
  const next = await store.append(ev('settings', 'after'));
  assert.equal(next.seq, 4501);
  assert.equal(await store.integrityCheck(), 'ok');
  await pgAdmin(`ALTER TABLE ${fresh.schema}.audit DISABLE TRIGGER audit_no_update`);
  await pgAdmin(`UPDATE ${fresh.schema}.audit SET reason = 'edited' WHERE seq = 3001`);
  assert.deepEqual(await store.verify(), { ok: false, checked: 3000, brokenAt: 3001 });
  await pgAdmin(`UPDATE ${fresh.schema}.audit SET reason = 'edited' WHERE seq = 4501`);
  assert.match(await store.integrityCheck(), /does not verify at its newest entry \(seq 4501\)/);
});

test('postgres: an unreachable server is UNAVAILABLE naming host:port/db, never the password; a bad schema name is refused', async () => {
  await rejectsWith(openPostgresStore('postgres://deployr:Sup3rSecretPw@127.0.0.1:1/somedb?schema=abc', randomBytes(32)), 'UNAVAILABLE', /^Cannot reach the PostgreSQL database at 127\.0\.0\.1:1\/somedb: [^\n]*$/);
  await assert.rejects(openPostgresStore('postgres://deployr:Sup3rSecretPw@127.0.0.1:1/somedb', randomBytes(32)), (err: unknown) => !String((err as Error).message).includes('Sup3rSecretPw'));
  const bad = new URL(PG_BASE_URL);
  bad.searchParams.set('schema', 'bad-name');
  await rejectsWith(openPostgresStore(bad.toString(), randomBytes(32)), 'INVALID_INPUT', /plain lower-case identifier/);
  await rejectsWith(openPostgresStore('mysql://x@127.0.0.1/db', randomBytes(32)), 'INVALID_INPUT');
});
