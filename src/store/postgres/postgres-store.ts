// The shared store for several nodes: one PostgreSQL database (or schema), implementing every port of src/engine/ports.ts.

import type { AuditEntry, AuditEvent } from '../../domain/audit.js';
import type { Administrator, AdminRole, AdminSession } from '../../domain/administrator.js';
import type { ContentItem } from '../../domain/content-item.js';
import { DeployrError } from '../../domain/errors.js';
import type { RunRecord, RunStepRecord } from '../../domain/run.js';
import type { StoredScopedPasscode } from '../../domain/scoped-passcode.js';
import { DEFAULT_SECURITY_SETTINGS, type SecuritySettings } from '../../domain/security-settings.js';
import type { StepDefinition } from '../../domain/step-definition.js';
import type { TaskSequence } from '../../domain/task-sequence.js';
import type { GlobalThrottleRecord, ThrottlePolicy, ThrottleRecord } from '../../domain/throttle.js';
import type { AuditFilter, AuditVerification, NewSigningKey, RunFilter, Store, StoredSigningKey, VersionedSecuritySettings } from '../../engine/ports.js';
import { AdminRecords } from './admin-records.js';
import { appendAudit, auditTailMatches, listAudit, lockAudit, verifyAudit, type AuditContext } from './audit-log.js';
import { parsePostgresUrl } from '../../domain/postgres-url.js';
import { changeChannel, clientConfig, createPool, lockKey, PgDatabase, type Queryable } from './connection.js';
import * as login from './login-records.js';
import { migrateSchema, SCHEMA_VERSION } from './migrations.js';
import * as runs from './run-records.js';
import * as scoped from './scoped-passcode-records.js';
import { ChangeListener } from './change-listener.js';
import { ReadCache } from './read-cache.js';

/**
 * Opens the PostgreSQL store at `url` (`postgres://user@host:port/db`, with `?schema=NAME` to use one
 * schema of that database), bringing its schema up to date and refusing a newer one. `auditKey` keys
 * the audit chain's HMAC and is kept outside the database, on every node.
 */
export async function openPostgresStore(url: string, auditKey: Buffer): Promise<Store> {
  const target = parsePostgresUrl(url);
  const pool = createPool(target);
  try {
    await migrateSchema(pool, target);
  } catch (err) {
    await pool.end().catch(() => { /* nothing more to tell */ });
    throw err;
  }
  const store = new PostgresStore(new PgDatabase(pool, target), auditKey);
  await store.start();
  return store;
}

/** Freezes a parsed document all the way down, so a shared cached copy cannot be changed by a caller. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

const KEYS_CONFLICT = 'The signing keys were changed by someone else meanwhile; nothing was changed. Try again.';

class PostgresStore implements Store {
  private readonly audit: AuditContext;
  /** Where changes to the security revision and the signing keys are announced (NOTIFY), per schema. */
  private readonly channel: string;
  /** The security revision, which every request asks for: kept in memory (see ReadCache). */
  private readonly revision: ReadCache<number>;
  /** The parsed, frozen task sequence list (every token holder lists them, often). */
  private readonly taskSequenceList: ReadCache<readonly TaskSequence[]>;
  /** NOTIFYs from every node (this one included) drop the caches they concern. */
  private readonly listener: ChangeListener;
  private readonly admins: AdminRecords;
  /** Successful logins, recorded in shared transactions (login-records.ts). */
  private readonly successes: login.SuccessBatches;
  private closed = false;

  constructor(private readonly db: PgDatabase, auditKey: Buffer) {
    this.audit = { key: auditKey, lock: lockKey('audit', db.target.schema) };
    this.channel = changeChannel(db.target.schema);
    this.revision = new ReadCache(() => this.readRevision(db));
    this.taskSequenceList = new ReadCache(async () => Object.freeze((await db.query<{ doc: string }>('SELECT doc FROM task_sequences ORDER BY name, id')).rows
      .map((r) => deepFreeze(JSON.parse(r.doc) as TaskSequence))));
    this.listener = new ChangeListener(clientConfig(db.target), this.channel, (what) => {
      if (what === null || what === 'security' || what === 'keys') this.revision.invalidate();
      if (what === null || what === 'task-sequences') this.taskSequenceList.invalidate();
    });
    this.admins = new AdminRecords(db, this.audit);
    this.successes = new login.SuccessBatches(db, this.audit);
  }

  async start(): Promise<void> {
    await this.listener.start();
  }

  private async readRevision(db: Queryable): Promise<number> {
    return (await db.query<{ revision: number }>('SELECT revision FROM security_settings WHERE id = 1')).rows[0]?.revision ?? 0;
  }

  /** Runs a write that moves the revision (or the keys) and makes this store's next revision read fresh once it is done. */
  private async changingSecurity<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } finally {
      this.revision.invalidate();
    }
  }

  private async notify(tx: Queryable, what: string): Promise<void> {
    await tx.query('SELECT pg_notify($1, $2)', [this.channel, what]);
  }

  async getSecurity(): Promise<VersionedSecuritySettings> {
    const row = (await this.db.query<{ doc: string; revision: number; updated_at: string }>('SELECT doc, revision, updated_at FROM security_settings WHERE id = 1')).rows[0];
    if (!row) return { settings: { ...DEFAULT_SECURITY_SETTINGS }, revision: 0, updatedAt: new Date(0).toISOString() };
    return { settings: { ...DEFAULT_SECURITY_SETTINGS, ...(JSON.parse(row.doc) as SecuritySettings) }, revision: row.revision, updatedAt: row.updated_at };
  }

  async getSecurityRevision(): Promise<number> {
    return this.revision.get();
  }

  async saveSecurity(next: SecuritySettings, expectedRevision: number, events: AuditEvent[]): Promise<number> {
    return this.changingSecurity(() => this.db.transaction(async (tx) => {
      await lockAudit(tx, this.audit);
      const current = await this.readRevision(tx);
      if (current !== expectedRevision) {
        throw new DeployrError('CONFLICT', 'The security settings were changed by someone else meanwhile; nothing was saved. Try again.');
      }
      const revision = current + 1;
      await tx.query('INSERT INTO security_settings (id, doc, revision, updated_at) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, revision = excluded.revision, updated_at = excluded.updated_at',
        [JSON.stringify(next), revision, new Date().toISOString()]);
      for (const e of events) await appendAudit(tx, this.audit, { ...e, detail: { ...e.detail, revision } });
      await this.notify(tx, 'security');
      return revision;
    }));
  }

  async append(event: AuditEvent): Promise<AuditEntry> {
    return this.db.transaction((tx) => appendAudit(tx, this.audit, event));
  }

  async list(filter: AuditFilter): Promise<AuditEntry[]> {
    return listAudit(this.db, filter);
  }

  async verify(): Promise<AuditVerification> {
    return verifyAudit(this.db, this.audit.key);
  }

  async throttleState(keys: string[]): Promise<{ records: Map<string, ThrottleRecord>; global: GlobalThrottleRecord }> {
    return login.throttleState(this.db, keys);
  }

  async recordFailure(input: { keys: string[]; digest: string; now: number; policy: ThrottlePolicy; event: AuditEvent }): Promise<{ alertRaised: boolean; global: GlobalThrottleRecord }> {
    return login.recordFailure(this.db, this.audit, input);
  }

  async recordSuccess(input: { keys: string[]; event: AuditEvent }): Promise<AuditEntry> {
    return this.successes.record(input);
  }

  async listThrottle(): Promise<{ records: { key: string; record: ThrottleRecord }[]; global: GlobalThrottleRecord }> {
    return login.listThrottle(this.db);
  }

  async clearThrottle(input: { address?: string; all?: boolean; resetAlert?: boolean; event: AuditEvent }): Promise<{ cleared: number; alertCleared: boolean }> {
    return login.clearThrottle(this.db, this.audit, input);
  }

  async listScopedPasscodes(): Promise<StoredScopedPasscode[]> {
    return scoped.listScopedPasscodes(this.db);
  }

  async addScopedPasscode(passcode: StoredScopedPasscode, event: AuditEvent): Promise<void> {
    await this.changingSecurity(() => scoped.addScopedPasscode(this.db, this.audit, this.channel, passcode, event));
  }

  async revokeScopedPasscode(name: string, revokedAt: string, event: AuditEvent): Promise<StoredScopedPasscode> {
    return this.changingSecurity(() => scoped.revokeScopedPasscode(this.db, this.audit, this.channel, name, revokedAt, event));
  }

  async recordScopedPasscodeLogin(input: { id: string; at: string; keys: string[]; event: AuditEvent }): Promise<boolean> {
    return scoped.recordScopedPasscodeLogin(this.db, this.audit, input);
  }

  async listSigningKeys(): Promise<StoredSigningKey[]> {
    const rows = (await this.db.query<{ kid: string; private_jwk: string; public_jwk: string; created_at: string; superseded_at: string | null; verify_until: string | null }>(
      'SELECT kid, private_jwk, public_jwk, created_at, superseded_at, verify_until FROM signing_keys ORDER BY created_at, kid')).rows;
    return rows.map((r) => ({
      kid: r.kid, sealedPrivateKey: r.private_jwk, publicJwk: JSON.parse(r.public_jwk) as Record<string, unknown>,
      createdAt: r.created_at, supersededAt: r.superseded_at, verifyUntil: r.verify_until,
    }));
  }

  async addFirstSigningKey(key: NewSigningKey): Promise<void> {
    // Several nodes may race on first start: under the audit lock the first insert wins and all read it back.
    await this.changingSecurity(() => this.db.transaction(async (tx) => {
      await lockAudit(tx, this.audit);
      const added = await tx.query('INSERT INTO signing_keys (kid, private_jwk, public_jwk, created_at) SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM signing_keys) ON CONFLICT (kid) DO NOTHING',
        [key.kid, key.sealedPrivateKey, JSON.stringify(key.publicJwk), new Date().toISOString()]);
      if (added.rowCount === 1) await this.notify(tx, 'keys');
    }));
  }

  async rotateSigningKey(input: { expectedActiveKid: string; next: NewSigningKey; verifyUntil: string; event: AuditEvent }): Promise<void> {
    await this.changingSecurity(() => this.db.transaction(async (tx) => {
      await lockAudit(tx, this.audit);
      const active = (await tx.query<{ kid: string }>('SELECT kid FROM signing_keys WHERE superseded_at IS NULL')).rows.map((r) => r.kid);
      if (active.length !== 1 || active[0] !== input.expectedActiveKid) throw new DeployrError('CONFLICT', KEYS_CONFLICT);
      const now = new Date().toISOString();
      // The replaced key never signs again: its private key is erased; its public key verifies until verify_until.
      await tx.query("UPDATE signing_keys SET private_jwk = '', superseded_at = $1, verify_until = $2 WHERE kid = $3", [now, input.verifyUntil, input.expectedActiveKid]);
      await tx.query('INSERT INTO signing_keys (kid, private_jwk, public_jwk, created_at) VALUES ($1, $2, $3, $4)',
        [input.next.kid, input.next.sealedPrivateKey, JSON.stringify(input.next.publicJwk), now]);
      await appendAudit(tx, this.audit, input.event);
      await this.notify(tx, 'keys');
    }));
  }

  async resealSigningKeys(updates: { kid: string; expected: string; sealed: string }[], event: AuditEvent): Promise<void> {
    await this.changingSecurity(() => this.db.transaction(async (tx) => {
      await lockAudit(tx, this.audit);
      for (const u of updates) {
        const r = await tx.query('UPDATE signing_keys SET private_jwk = $1 WHERE kid = $2 AND private_jwk = $3', [u.sealed, u.kid, u.expected]);
        if (r.rowCount !== 1) throw new DeployrError('CONFLICT', KEYS_CONFLICT);
      }
      await appendAudit(tx, this.audit, event);
      await this.notify(tx, 'keys');
    }));
  }

  async putTaskSequence(ts: TaskSequence, event: AuditEvent): Promise<void> {
    await this.changingTaskSequences(() => this.db.transaction(async (tx) => {
      await lockAudit(tx, this.audit);
      await tx.query('INSERT INTO task_sequences (id, name, doc, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET name = excluded.name, doc = excluded.doc, updated_at = excluded.updated_at',
        [ts.id, ts.name, JSON.stringify(ts), new Date().toISOString()]);
      await appendAudit(tx, this.audit, event);
      await this.notify(tx, 'task-sequences');
    }));
  }

  async getTaskSequence(id: string): Promise<TaskSequence | null> {
    const doc = (await this.db.query<{ doc: string }>('SELECT doc FROM task_sequences WHERE id = $1', [id])).rows[0]?.doc;
    return doc ? (JSON.parse(doc) as TaskSequence) : null;
  }

  // Cached: dropped by a NOTIFY from any node or this store's own change, and at most 400 ms old otherwise.
  async listTaskSequences(): Promise<readonly TaskSequence[]> {
    return this.taskSequenceList.get();
  }

  /** Runs a change of the task sequences and drops the cached list once it is done. */
  private async changingTaskSequences<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } finally {
      this.taskSequenceList.invalidate();
    }
  }

  async deleteTaskSequence(id: string, event: AuditEvent): Promise<boolean> {
    return this.changingTaskSequences(() => this.db.transaction(async (tx) => {
      await lockAudit(tx, this.audit);
      if ((await tx.query('DELETE FROM task_sequences WHERE id = $1', [id])).rowCount === 0) return false;
      await appendAudit(tx, this.audit, event);
      await this.notify(tx, 'task-sequences');
      return true;
    }));
  }

  async putStepDefinition(def: StepDefinition, event: AuditEvent): Promise<void> {
    await this.db.transaction(async (tx) => {
      await lockAudit(tx, this.audit);
      await tx.query('INSERT INTO step_definitions (id, name, doc, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET name = excluded.name, doc = excluded.doc, updated_at = excluded.updated_at',
        [def.id, def.name, JSON.stringify(def), new Date().toISOString()]);
      await appendAudit(tx, this.audit, event);
    });
  }

  async getStepDefinition(id: string): Promise<StepDefinition | null> {
    const doc = (await this.db.query<{ doc: string }>('SELECT doc FROM step_definitions WHERE id = $1', [id])).rows[0]?.doc;
    return doc ? (JSON.parse(doc) as StepDefinition) : null;
  }

  async listStepDefinitions(): Promise<StepDefinition[]> {
    return (await this.db.query<{ doc: string }>('SELECT doc FROM step_definitions ORDER BY name, id')).rows.map((r) => JSON.parse(r.doc) as StepDefinition);
  }

  async deleteStepDefinition(id: string, event: AuditEvent): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await lockAudit(tx, this.audit);
      if ((await tx.query('DELETE FROM step_definitions WHERE id = $1', [id])).rowCount === 0) return false;
      await appendAudit(tx, this.audit, event);
      return true;
    });
  }

  async putContentItem(item: ContentItem, event: AuditEvent, expected?: ContentItem | null): Promise<void> {
    await this.db.transaction(async (tx) => {
      await lockAudit(tx, this.audit);
      if (expected !== undefined) {
        const stored = (await tx.query<{ doc: string }>('SELECT doc FROM content_items WHERE id = $1', [item.id])).rows[0]?.doc;
        if ((stored ?? null) !== (expected === null ? null : JSON.stringify(expected))) {
          throw new DeployrError('CONFLICT', `Content item ${item.id} was changed by someone else meanwhile; nothing was saved.`);
        }
      }
      await tx.query('INSERT INTO content_items (id, name, doc, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET name = excluded.name, doc = excluded.doc, updated_at = excluded.updated_at',
        [item.id, item.name, JSON.stringify(item), new Date().toISOString()]);
      await appendAudit(tx, this.audit, event);
    });
  }

  async deleteContentItem(expected: ContentItem, event: AuditEvent): Promise<void> {
    await this.db.transaction(async (tx) => {
      await lockAudit(tx, this.audit);
      const stored = (await tx.query<{ doc: string }>('SELECT doc FROM content_items WHERE id = $1', [expected.id])).rows[0]?.doc;
      if (stored !== JSON.stringify(expected)) {
        throw new DeployrError('CONFLICT', `Content item ${expected.id} was changed by someone else meanwhile; nothing was deleted.`);
      }
      await tx.query('DELETE FROM content_items WHERE id = $1', [expected.id]);
      await appendAudit(tx, this.audit, event);
    });
  }

  async getContentItem(id: string): Promise<ContentItem | null> {
    const doc = (await this.db.query<{ doc: string }>('SELECT doc FROM content_items WHERE id = $1', [id])).rows[0]?.doc;
    return doc ? (JSON.parse(doc) as ContentItem) : null;
  }

  async listContentItems(): Promise<ContentItem[]> {
    return (await this.db.query<{ doc: string }>('SELECT doc FROM content_items ORDER BY name, id')).rows.map((r) => JSON.parse(r.doc) as ContentItem);
  }

  async createRun(run: RunRecord, ownerTokenId?: string | null): Promise<void> { await runs.createRun(this.db, run, ownerTokenId ?? null); }
  async getRun(id: string): Promise<RunRecord | null> { return runs.getRun(this.db, id); }
  async getRunOwner(id: string): Promise<string | null> { return runs.getRunOwner(this.db, id); }
  async setRunOwner(id: string, ownerTokenId: string): Promise<void> { await runs.setRunOwner(this.db, id, ownerTokenId); }
  async listRuns(filter: RunFilter): Promise<RunRecord[]> { return runs.listRuns(this.db, filter); }
  async updateRun(id: string, patch: Partial<Omit<RunRecord, 'id'>>): Promise<RunRecord | null> { return runs.updateRun(this.db, id, patch); }
  async putRunStep(runId: string, step: RunStepRecord): Promise<void> { await runs.putRunStep(this.db, runId, step); }
  async reportRunStep(runId: string, step: RunStepRecord, patch: Partial<Omit<RunRecord, 'id'>>): Promise<RunRecord | null> { return runs.reportRunStep(this.db, runId, step, patch); }
  async listRunSteps(runId: string): Promise<RunStepRecord[]> { return runs.listRunSteps(this.db, runId); }
  async appendRunLog(runId: string, text: string): Promise<void> { await runs.appendRunLog(this.db, runId, text); }
  async runLogLength(runId: string): Promise<number> { return runs.runLogLength(this.db, runId); }
  async getRunLog(runId: string): Promise<string> { return runs.getRunLog(this.db, runId); }
  async deleteRunsBefore(before: string): Promise<number> { return runs.deleteRunsBefore(this.db, before); }

  async deleteRun(id: string, event: AuditEvent): Promise<RunRecord | null> {
    return this.db.transaction(async (tx) => {
      await lockAudit(tx, this.audit);
      const run = await runs.deleteRun(tx, id);
      if (run) await appendAudit(tx, this.audit, event);
      return run;
    });
  }

  async listAdministrators(): Promise<Administrator[]> { return this.admins.listAdministrators(); }
  async getAdministrator(name: string): Promise<Administrator | null> { return this.admins.getAdministrator(name); }
  async addAdministrator(a: Administrator, event: AuditEvent): Promise<void> { await this.admins.addAdministrator(a, event); }
  async setAdministratorPassword(name: string, hash: string, changedAt: string, event: AuditEvent): Promise<void> { await this.admins.setAdministratorPassword(name, hash, changedAt, event); }
  async setAdministratorRole(name: string, role: AdminRole, event: AuditEvent): Promise<void> { await this.admins.setAdministratorRole(name, role, event); }
  async removeAdministrator(name: string, event: AuditEvent): Promise<void> { await this.admins.removeAdministrator(name, event); }
  async createAdminSession(session: AdminSession): Promise<void> { await this.admins.createAdminSession(session); }
  async getAdminSession(idHash: string): Promise<AdminSession | null> { return this.admins.getAdminSession(idHash); }
  async touchAdminSession(idHash: string, at: number): Promise<void> { await this.admins.touchAdminSession(idHash, at); }
  async deleteAdminSession(idHash: string): Promise<void> { await this.admins.deleteAdminSession(idHash); }
  async deleteExpiredAdminSessions(idleBefore: number, createdBefore: number): Promise<number> { return this.admins.deleteExpiredAdminSessions(idleBefore, createdBefore); }
  async runsChangedSince(after: string, limit: number): Promise<RunRecord[]> { return this.admins.runsChangedSince(after, limit); }
  async runCountsSince(since: string): Promise<Record<string, number>> { return this.admins.runCountsSince(since); }

  /** 'ok' when the schema is at this build's version and the audit chain's newest row follows from the one before; otherwise what is wrong. */
  async integrityCheck(): Promise<string> {
    const version = (await this.db.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations')).rows[0]?.v ?? 0;
    if (version !== SCHEMA_VERSION) return `schema version ${version}, expected ${SCHEMA_VERSION}`;
    const tail = await auditTailMatches(this.db, this.audit.key);
    if (!tail.ok) return `the audit chain does not verify at its newest entry (seq ${tail.seq})`;
    return 'ok';
  }

  async recordKeyCheck(value: string): Promise<boolean> {
    const read = async (): Promise<string | undefined> => (await this.db.query<{ value: string }>("SELECT value FROM store_facts WHERE name = 'key-check'")).rows[0]?.value;
    // Read first: every command opens the store, and only the first one ever needs to write.
    const kept = await read();
    if (kept !== undefined) return kept === value;
    await this.db.query("INSERT INTO store_facts (name, value) VALUES ('key-check', $1) ON CONFLICT (name) DO NOTHING", [value]);
    return (await read()) === value;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.successes.flushed();
    await this.listener.close();
    await this.db.pool.end();
  }
}
