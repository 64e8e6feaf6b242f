// The embedded default store: one SQLite file under the home, implementing every port of src/engine/ports.ts.

import type Database from 'better-sqlite3';
import type { AuditEntry, AuditEvent } from '../../domain/audit.js';
import type { ContentItem } from '../../domain/content-item.js';
import { DeployrError } from '../../domain/errors.js';
import { DEFAULT_SECURITY_SETTINGS, type SecuritySettings } from '../../domain/security-settings.js';
import type { TaskSequence } from '../../domain/task-sequence.js';
import type { StepDefinition } from '../../domain/step-definition.js';
import type { GlobalThrottleRecord, ThrottlePolicy, ThrottleRecord } from '../../domain/throttle.js';
import type { AuditFilter, AuditVerification, NewSigningKey, RunFilter, StoredSigningKey, Store, VersionedSecuritySettings } from '../../engine/ports.js';
import type { RunRecord, RunStepRecord } from '../../domain/run.js';
import { appendAudit, listAudit, verifyAudit } from './audit-log.js';
import { openDatabase, type SqliteDatabase } from './connection.js';
import { GroupCommit } from './group-commit.js';
import * as login from './login-records.js';
import * as runs from './run-records.js';
import * as scoped from './scoped-passcode-records.js';
import type { StoredScopedPasscode } from '../../domain/scoped-passcode.js';
import { AdminRecords } from './admin-records.js';
import type { Administrator, AdminRole, AdminSession } from '../../domain/administrator.js';

/** Opens the SQLite store at `file`; `auditKey` keys the audit chain's HMAC and is kept outside the database. */
export function openSqliteStore(file: string, auditKey: Buffer): Store {
  return new SqliteStore(openDatabase(file), auditKey);
}

/** Freezes a parsed document all the way down, so a shared cached copy cannot be changed by a caller. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

class SqliteStore implements Store {
  /** The parsed task sequence list and the database version it was read at. */
  private taskSequenceList: { dataVersion: number; writes: number; list: readonly TaskSequence[] } | null = null;
  /**
   * What other connections committed, looked for at most once per millisecond (`PRAGMA data_version`,
   * a read of the WAL index, moves whenever another connection commits), with the security settings'
   * revision. Cached reads compare against it instead of asking SQLite each time.
   */
  private committed: { revision: number; dataVersion: number; at: number; writes: number } | null = null;
  private committedStatements: { dataVersion: Database.Statement<unknown[], unknown>; revision: Database.Statement<unknown[], unknown> } | null = null;
  /**
   * Writes through this connection to the tables whose reads are cached here (`data_version` does
   * not move for them). Counted before the write, so a failed one only costs a re-read.
   */
  private ownWrites = 0;

  /** Login bookkeeping and audit appends share commits (one fsync for many logins in a storm). */
  private readonly writes: GroupCommit;

  /** Administrators, console sessions and run changes (admin-records.ts). */
  private readonly admins: AdminRecords;

  constructor(private readonly db: SqliteDatabase, private readonly auditKey: Buffer) {
    this.writes = new GroupCommit(db);
    this.admins = new AdminRecords(db, auditKey);
  }

  async getSecurity(): Promise<VersionedSecuritySettings> {
    const row = this.db.prepare('SELECT doc, revision, updated_at FROM security_settings WHERE id = 1').get() as { doc: string; revision: number; updated_at: string } | undefined;
    if (!row) return { settings: { ...DEFAULT_SECURITY_SETTINGS }, revision: 0, updatedAt: new Date(0).toISOString() };
    return { settings: { ...DEFAULT_SECURITY_SETTINGS, ...(JSON.parse(row.doc) as SecuritySettings) }, revision: row.revision, updatedAt: row.updated_at };
  }

  async getSecurityRevision(): Promise<number> {
    // Every request may ask: a save through this connection is seen at once, a save by another
    // process (the configuration tool, another node) within a millisecond.
    return this.readCommitted().revision;
  }

  /**
   * The revision and data version: `data_version` is read when this connection wrote or a
   * millisecond has passed, and the revision only when something was committed since.
   */
  private readCommitted(): { revision: number; dataVersion: number } {
    const t = performance.now();
    const cached = this.committed;
    if (cached !== null && cached.writes === this.ownWrites && t - cached.at < 1) return cached;
    this.committedStatements ??= {
      dataVersion: this.db.prepare('PRAGMA data_version').pluck(),
      revision: this.db.prepare('SELECT revision FROM security_settings WHERE id = 1').pluck(),
    };
    const dataVersion = this.committedStatements.dataVersion.get() as number;
    const unchanged = cached !== null && cached.writes === this.ownWrites && cached.dataVersion === dataVersion;
    const revision = unchanged ? cached.revision : ((this.committedStatements.revision.get() as number | undefined) ?? 0);
    this.committed = { revision, dataVersion, at: t, writes: this.ownWrites };
    return this.committed;
  }

  async saveSecurity(next: SecuritySettings, expectedRevision: number, events: AuditEvent[]): Promise<number> {
    this.ownWrites += 1;
    return this.db.transaction(() => {
      const current = (this.db.prepare('SELECT revision FROM security_settings WHERE id = 1').pluck().get() as number | undefined) ?? 0;
      if (current !== expectedRevision) {
        throw new DeployrError('CONFLICT', 'The security settings were changed by someone else meanwhile; nothing was saved. Try again.');
      }
      const revision = current + 1;
      this.db.prepare('INSERT INTO security_settings (id, doc, revision, updated_at) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, revision = excluded.revision, updated_at = excluded.updated_at')
        .run(JSON.stringify(next), revision, new Date().toISOString());
      for (const e of events) appendAudit(this.db, this.auditKey, { ...e, detail: { ...e.detail, revision } });
      return revision;
    }).immediate();
  }

  async append(event: AuditEvent): Promise<AuditEntry> {
    return this.writes.submit(() => appendAudit(this.db, this.auditKey, event));
  }

  async list(filter: AuditFilter): Promise<AuditEntry[]> {
    return listAudit(this.db, filter);
  }

  async verify(): Promise<AuditVerification> {
    return verifyAudit(this.db, this.auditKey);
  }

  async throttleState(keys: string[]): Promise<{ records: Map<string, ThrottleRecord>; global: GlobalThrottleRecord }> {
    return login.throttleState(this.db, keys);
  }

  async recordFailure(input: { keys: string[]; digest: string; now: number; policy: ThrottlePolicy; event: AuditEvent }): Promise<{ alertRaised: boolean; global: GlobalThrottleRecord }> {
    return this.writes.submit(() => login.recordFailure(this.db, this.auditKey, input));
  }

  async recordSuccess(input: { keys: string[]; event: AuditEvent }): Promise<AuditEntry> {
    return this.writes.submit(() => login.recordSuccess(this.db, this.auditKey, input));
  }

  async listScopedPasscodes(): Promise<StoredScopedPasscode[]> {
    return scoped.listScopedPasscodes(this.db);
  }

  async addScopedPasscode(passcode: StoredScopedPasscode, event: AuditEvent): Promise<void> {
    // It moves the security revision, whose read is cached per connection.
    this.ownWrites += 1;
    scoped.addScopedPasscode(this.db, this.auditKey, passcode, event);
  }

  async revokeScopedPasscode(name: string, revokedAt: string, event: AuditEvent): Promise<StoredScopedPasscode> {
    this.ownWrites += 1;
    return scoped.revokeScopedPasscode(this.db, this.auditKey, name, revokedAt, event);
  }

  async recordScopedPasscodeLogin(input: { id: string; at: string; keys: string[]; event: AuditEvent }): Promise<boolean> {
    return this.writes.submit(() => scoped.recordScopedPasscodeLogin(this.db, this.auditKey, input));
  }

  async listThrottle(): Promise<{ records: { key: string; record: ThrottleRecord }[]; global: GlobalThrottleRecord }> {
    return login.listThrottle(this.db);
  }

  async clearThrottle(input: { address?: string; all?: boolean; resetAlert?: boolean; event: AuditEvent }): Promise<{ cleared: number; alertCleared: boolean }> {
    return login.clearThrottle(this.db, this.auditKey, input);
  }

  async listSigningKeys(): Promise<StoredSigningKey[]> {
    const rows = this.db.prepare('SELECT kid, private_jwk, public_jwk, created_at, superseded_at, verify_until FROM signing_keys ORDER BY created_at, kid').all() as
      { kid: string; private_jwk: string; public_jwk: string; created_at: string; superseded_at: string | null; verify_until: string | null }[];
    return rows.map((r) => ({
      kid: r.kid, sealedPrivateKey: r.private_jwk, publicJwk: JSON.parse(r.public_jwk) as Record<string, unknown>,
      createdAt: r.created_at, supersededAt: r.superseded_at, verifyUntil: r.verify_until,
    }));
  }

  async addFirstSigningKey(key: NewSigningKey): Promise<void> {
    // Two processes may race on first start; the first insert wins and both read it back.
    this.db.prepare('INSERT OR IGNORE INTO signing_keys (kid, private_jwk, public_jwk, created_at) SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM signing_keys)')
      .run(key.kid, key.sealedPrivateKey, JSON.stringify(key.publicJwk), new Date().toISOString());
  }

  async rotateSigningKey(input: { expectedActiveKid: string; next: NewSigningKey; verifyUntil: string; event: AuditEvent }): Promise<void> {
    this.db.transaction(() => {
      const active = this.db.prepare('SELECT kid FROM signing_keys WHERE superseded_at IS NULL').pluck().all() as string[];
      if (active.length !== 1 || active[0] !== input.expectedActiveKid) {
        throw new DeployrError('CONFLICT', 'The signing keys were changed by someone else meanwhile; nothing was changed. Try again.');
      }
      const now = new Date().toISOString();
      // The replaced key never signs again: its private key is erased; its public key verifies until verify_until.
      this.db.prepare("UPDATE signing_keys SET private_jwk = '', superseded_at = ?, verify_until = ? WHERE kid = ?").run(now, input.verifyUntil, input.expectedActiveKid);
      this.db.prepare('INSERT INTO signing_keys (kid, private_jwk, public_jwk, created_at) VALUES (?, ?, ?, ?)')
        .run(input.next.kid, input.next.sealedPrivateKey, JSON.stringify(input.next.publicJwk), now);
      appendAudit(this.db, this.auditKey, input.event);
    }).immediate();
  }

  async resealSigningKeys(updates: { kid: string; expected: string; sealed: string }[], event: AuditEvent): Promise<void> {
    this.db.transaction(() => {
      const update = this.db.prepare('UPDATE signing_keys SET private_jwk = ? WHERE kid = ? AND private_jwk = ?');
      for (const u of updates) {
        if (update.run(u.sealed, u.kid, u.expected).changes !== 1) {
          throw new DeployrError('CONFLICT', 'The signing keys were changed by someone else meanwhile; nothing was changed. Try again.');
        }
      }
      appendAudit(this.db, this.auditKey, event);
    }).immediate();
  }

  async putTaskSequence(ts: TaskSequence, event: AuditEvent): Promise<void> {
    this.ownWrites += 1;
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO task_sequences (id, name, doc, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, doc = excluded.doc, updated_at = excluded.updated_at')
        .run(ts.id, ts.name, JSON.stringify(ts), new Date().toISOString());
      appendAudit(this.db, this.auditKey, event);
    }).immediate();
  }

  async getTaskSequence(id: string): Promise<TaskSequence | null> {
    const doc = this.db.prepare('SELECT doc FROM task_sequences WHERE id = ?').pluck().get(id) as string | undefined;
    return doc ? (JSON.parse(doc) as TaskSequence) : null;
  }

  async listTaskSequences(): Promise<readonly TaskSequence[]> {
    return this.listTaskSequencesNow();
  }

  listTaskSequencesNow(): readonly TaskSequence[] {
    // Parsed once and reused until the database changes: every token holder lists them, often.
    const { dataVersion } = this.readCommitted();
    const cached = this.taskSequenceList;
    if (cached !== null && cached.dataVersion === dataVersion && cached.writes === this.ownWrites) return cached.list;
    const list = (this.db.prepare('SELECT doc FROM task_sequences ORDER BY name, id').pluck().all() as string[]).map((d) => deepFreeze(JSON.parse(d) as TaskSequence));
    this.taskSequenceList = { dataVersion, writes: this.ownWrites, list: Object.freeze(list) };
    return this.taskSequenceList.list;
  }


  async deleteTaskSequence(id: string, event: AuditEvent): Promise<boolean> {
    this.ownWrites += 1;
    return this.db.transaction(() => {
      if (this.db.prepare('DELETE FROM task_sequences WHERE id = ?').run(id).changes === 0) return false;
      appendAudit(this.db, this.auditKey, event);
      return true;
    }).immediate();
  }

  async putStepDefinition(def: StepDefinition, event: AuditEvent): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO step_definitions (id, name, doc, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, doc = excluded.doc, updated_at = excluded.updated_at')
        .run(def.id, def.name, JSON.stringify(def), new Date().toISOString());
      appendAudit(this.db, this.auditKey, event);
    }).immediate();
  }

  async getStepDefinition(id: string): Promise<StepDefinition | null> {
    const doc = this.db.prepare('SELECT doc FROM step_definitions WHERE id = ?').pluck().get(id) as string | undefined;
    return doc ? (JSON.parse(doc) as StepDefinition) : null;
  }

  async listStepDefinitions(): Promise<StepDefinition[]> {
    return (this.db.prepare('SELECT doc FROM step_definitions ORDER BY name, id').pluck().all() as string[]).map((d) => JSON.parse(d) as StepDefinition);
  }

  async deleteStepDefinition(id: string, event: AuditEvent): Promise<boolean> {
    return this.db.transaction(() => {
      if (this.db.prepare('DELETE FROM step_definitions WHERE id = ?').run(id).changes === 0) return false;
      appendAudit(this.db, this.auditKey, event);
      return true;
    }).immediate();
  }

  async putContentItem(item: ContentItem, event: AuditEvent, expected?: ContentItem | null): Promise<void> {
    this.db.transaction(() => {
      if (expected !== undefined) {
        const stored = this.db.prepare('SELECT doc FROM content_items WHERE id = ?').pluck().get(item.id) as string | undefined;
        if ((stored ?? null) !== (expected === null ? null : JSON.stringify(expected))) {
          throw new DeployrError('CONFLICT', `Content item ${item.id} was changed by someone else meanwhile; nothing was saved.`);
        }
      }
      this.db.prepare('INSERT INTO content_items (id, name, doc, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, doc = excluded.doc, updated_at = excluded.updated_at')
        .run(item.id, item.name, JSON.stringify(item), new Date().toISOString());
      appendAudit(this.db, this.auditKey, event);
    }).immediate();
  }

  async deleteContentItem(expected: ContentItem, event: AuditEvent): Promise<void> {
    this.db.transaction(() => {
      const stored = this.db.prepare('SELECT doc FROM content_items WHERE id = ?').pluck().get(expected.id) as string | undefined;
      if (stored !== JSON.stringify(expected)) {
        throw new DeployrError('CONFLICT', `Content item ${expected.id} was changed by someone else meanwhile; nothing was deleted.`);
      }
      this.db.prepare('DELETE FROM content_items WHERE id = ?').run(expected.id);
      appendAudit(this.db, this.auditKey, event);
    }).immediate();
  }

  async getContentItem(id: string): Promise<ContentItem | null> {
    const doc = this.db.prepare('SELECT doc FROM content_items WHERE id = ?').pluck().get(id) as string | undefined;
    return doc ? (JSON.parse(doc) as ContentItem) : null;
  }

  async listContentItems(): Promise<ContentItem[]> {
    return (this.db.prepare('SELECT doc FROM content_items ORDER BY name, id').pluck().all() as string[]).map((d) => JSON.parse(d) as ContentItem);
  }

  async createRun(run: RunRecord, ownerTokenId?: string | null): Promise<void> {
    await this.writes.submit(() => runs.createRun(this.db, run, ownerTokenId ?? null));
  }

  async getRunOwner(id: string): Promise<string | null> {
    return runs.getRunOwner(this.db, id);
  }

  async setRunOwner(id: string, ownerTokenId: string): Promise<void> {
    await this.writes.submit(() => runs.setRunOwner(this.db, id, ownerTokenId));
  }

  async getRun(id: string): Promise<RunRecord | null> {
    return runs.getRun(this.db, id);
  }

  async listRuns(filter: RunFilter): Promise<RunRecord[]> {
    return runs.listRuns(this.db, filter);
  }

  // A client's reports (steps, heartbeats, logs) share commits: many runs reporting at once cost one
  // transaction and one WAL sync per batch, and each still answers only once its write is on the disk.
  async updateRun(id: string, patch: Partial<Omit<RunRecord, 'id'>>): Promise<RunRecord | null> {
    return this.writes.submit(() => runs.updateRun(this.db, id, patch));
  }

  async putRunStep(runId: string, step: RunStepRecord): Promise<void> {
    await this.writes.submit(() => runs.putRunStep(this.db, runId, step));
  }

  async reportRunStep(runId: string, step: RunStepRecord, patch: Partial<Omit<RunRecord, 'id'>>): Promise<RunRecord | null> {
    return this.writes.submit(() => runs.reportRunStep(this.db, runId, step, patch));
  }

  async listRunSteps(runId: string): Promise<RunStepRecord[]> {
    return runs.listRunSteps(this.db, runId);
  }

  async appendRunLog(runId: string, text: string): Promise<void> {
    await this.writes.submit(() => runs.appendRunLog(this.db, runId, text));
  }

  async runLogLength(runId: string): Promise<number> {
    return runs.runLogLength(this.db, runId);
  }

  async deleteRunsBefore(before: string): Promise<number> {
    return runs.deleteRunsBefore(this.db, before);
  }

  async deleteRun(id: string, event: AuditEvent): Promise<RunRecord | null> {
    return this.db.transaction(() => {
      const run = runs.deleteRun(this.db, id);
      if (run) appendAudit(this.db, this.auditKey, event);
      return run;
    }).immediate();
  }

  async getRunLog(runId: string): Promise<string> {
    return runs.getRunLog(this.db, runId);
  }

  async listAdministrators(): Promise<Administrator[]> { return this.admins.listAdministrators(); }
  async getAdministrator(name: string): Promise<Administrator | null> { return this.admins.getAdministrator(name); }
  async addAdministrator(a: Administrator, event: AuditEvent): Promise<void> { this.admins.addAdministrator(a, event); }
  async setAdministratorPassword(name: string, hash: string, changedAt: string, event: AuditEvent): Promise<void> { this.admins.setAdministratorPassword(name, hash, changedAt, event); }
  async setAdministratorRole(name: string, role: AdminRole, event: AuditEvent): Promise<void> { this.admins.setAdministratorRole(name, role, event); }
  async removeAdministrator(name: string, event: AuditEvent): Promise<void> { this.admins.removeAdministrator(name, event); }
  async createAdminSession(session: AdminSession): Promise<void> { this.admins.createAdminSession(session); }
  async getAdminSession(idHash: string): Promise<AdminSession | null> { return this.admins.getAdminSession(idHash); }
  async touchAdminSession(idHash: string, at: number): Promise<void> { this.admins.touchAdminSession(idHash, at); }
  async deleteAdminSession(idHash: string): Promise<void> { this.admins.deleteAdminSession(idHash); }
  async deleteExpiredAdminSessions(idleBefore: number, createdBefore: number): Promise<number> { return this.admins.deleteExpiredAdminSessions(idleBefore, createdBefore); }
  async runsChangedSince(after: string, limit: number): Promise<RunRecord[]> { return this.admins.runsChangedSince(after, limit); }
  async runCountsSince(since: string): Promise<Record<string, number>> { return this.admins.runCountsSince(since); }

  async integrityCheck(): Promise<string> {
    return String(this.db.pragma('integrity_check', { simple: true }));
  }

  async recordKeyCheck(value: string): Promise<boolean> {
    const read = (): unknown => this.db.prepare("SELECT value FROM store_facts WHERE name = 'key-check'").pluck().get();
    // Read first: every command opens the store, and only the first one ever needs to write (a
    // write here would wait for, and serialise behind, whatever else holds the write lock).
    const kept = read();
    if (kept !== undefined) return kept === value;
    this.db.prepare("INSERT INTO store_facts (name, value) VALUES ('key-check', ?) ON CONFLICT (name) DO NOTHING").run(value);
    return read() === value;
  }

  async close(): Promise<void> {
    await this.writes.close();
    this.db.close();
  }
}
