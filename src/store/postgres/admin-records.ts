// Administrators, console sessions and run changes in PostgreSQL (the AdminConsoleStore port).

import type { AuditEvent } from '../../domain/audit.js';
import type { Administrator, AdminRole, AdminSession } from '../../domain/administrator.js';
import { DeployrError } from '../../domain/errors.js';
import type { RunRecord } from '../../domain/run.js';
import { appendAudit, lockAudit, type AuditContext } from './audit-log.js';
import type { PgDatabase, Queryable } from './connection.js';
import { toAdmin, toRun, type AdminRow, type RunRow, type SessionRow } from '../record-rows.js';

function missing(name: string): DeployrError {
  return new DeployrError('NOT_FOUND', `No administrator named ${name}.`);
}

/** The administrator store and session store over one pool; every change is audited under the audit lock. */
export class AdminRecords {
  constructor(private readonly db: PgDatabase, private readonly audit: AuditContext) {}

  async listAdministrators(): Promise<Administrator[]> {
    return (await this.db.query<AdminRow>('SELECT * FROM administrators ORDER BY name')).rows.map(toAdmin);
  }

  async getAdministrator(name: string): Promise<Administrator | null> {
    const row = (await this.db.query<AdminRow>('SELECT * FROM administrators WHERE name = $1', [name])).rows[0];
    return row ? toAdmin(row) : null;
  }

  async addAdministrator(a: Administrator, event: AuditEvent): Promise<void> {
    await this.db.transaction(async (tx) => {
      await lockAudit(tx, this.audit);
      if ((await tx.query('SELECT 1 FROM administrators WHERE name = $1', [a.name])).rows.length > 0) throw new DeployrError('CONFLICT', `There is already an administrator named ${a.name}; nothing changed.`);
      await tx.query('INSERT INTO administrators (name, role, password_hash, created_at, password_changed_at) VALUES ($1, $2, $3, $4, $5)',
        [a.name, a.role, a.passwordHash, a.createdAt, a.passwordChangedAt]);
      await appendAudit(tx, this.audit, event);
    });
  }

  async setAdministratorPassword(name: string, hash: string, changedAt: string, event: AuditEvent): Promise<void> {
    await this.db.transaction(async (tx) => {
      await lockAudit(tx, this.audit);
      const r = await tx.query('UPDATE administrators SET password_hash = $1, password_changed_at = $2 WHERE name = $3', [hash, changedAt, name]);
      if (r.rowCount === 0) throw missing(name);
      await tx.query('DELETE FROM admin_sessions WHERE name = $1', [name]);
      await appendAudit(tx, this.audit, event);
    });
  }

  /** True when taking `name` away from the admin role would leave no admin. */
  private async isLastAdmin(tx: Queryable, name: string): Promise<boolean> {
    const role = (await tx.query<{ role: string }>('SELECT role FROM administrators WHERE name = $1', [name])).rows[0]?.role;
    if (role !== 'admin') return false;
    return ((await tx.query<{ n: number }>("SELECT COUNT(*) AS n FROM administrators WHERE role = 'admin'")).rows[0]?.n ?? 0) <= 1;
  }

  async setAdministratorRole(name: string, role: AdminRole, event: AuditEvent): Promise<void> {
    await this.db.transaction(async (tx) => {
      await lockAudit(tx, this.audit);
      if ((await tx.query('SELECT 1 FROM administrators WHERE name = $1', [name])).rows.length === 0) throw missing(name);
      if (role !== 'admin' && await this.isLastAdmin(tx, name)) throw new DeployrError('CONFLICT', `${name} is the last administrator with the admin role; add another admin first. Nothing changed.`);
      await tx.query('UPDATE administrators SET role = $1 WHERE name = $2', [role, name]);
      await tx.query('DELETE FROM admin_sessions WHERE name = $1', [name]);
      await appendAudit(tx, this.audit, event);
    });
  }

  async removeAdministrator(name: string, event: AuditEvent): Promise<void> {
    await this.db.transaction(async (tx) => {
      await lockAudit(tx, this.audit);
      if ((await tx.query('SELECT 1 FROM administrators WHERE name = $1', [name])).rows.length === 0) throw missing(name);
      if (await this.isLastAdmin(tx, name)) throw new DeployrError('CONFLICT', `${name} is the last administrator with the admin role; add another admin first. Nothing changed.`);
      await tx.query('DELETE FROM admin_sessions WHERE name = $1', [name]);
      await tx.query('DELETE FROM administrators WHERE name = $1', [name]);
      await appendAudit(tx, this.audit, event);
    });
  }

  async createAdminSession(s: AdminSession): Promise<void> {
    await this.db.query('INSERT INTO admin_sessions (id_hash, name, created_at, last_seen_at, source) VALUES ($1, $2, $3, $4, $5)', [s.idHash, s.name, s.createdAt, s.lastSeenAt, s.source]);
  }

  async getAdminSession(idHash: string): Promise<AdminSession | null> {
    const r = (await this.db.query<SessionRow>('SELECT * FROM admin_sessions WHERE id_hash = $1', [idHash])).rows[0];
    return r ? { idHash: r.id_hash, name: r.name, createdAt: r.created_at, lastSeenAt: r.last_seen_at, source: r.source } : null;
  }

  async touchAdminSession(idHash: string, at: number): Promise<void> {
    await this.db.query('UPDATE admin_sessions SET last_seen_at = $1 WHERE id_hash = $2 AND last_seen_at < $1', [at, idHash]);
  }

  async deleteAdminSession(idHash: string): Promise<void> {
    await this.db.query('DELETE FROM admin_sessions WHERE id_hash = $1', [idHash]);
  }

  async deleteExpiredAdminSessions(idleBefore: number, createdBefore: number): Promise<number> {
    return (await this.db.query('DELETE FROM admin_sessions WHERE last_seen_at < $1 OR created_at < $2', [idleBefore, createdBefore])).rowCount ?? 0;
  }

  async runsChangedSince(after: string, limit: number): Promise<RunRecord[]> {
    return (await this.db.query<RunRow>('SELECT * FROM runs WHERE updated_at >= $1 ORDER BY updated_at, id LIMIT $2', [after, Math.max(1, Math.min(limit, 10_000))])).rows.map(toRun);
  }

  async runCountsSince(since: string): Promise<Record<string, number>> {
    const rows = (await this.db.query<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM runs WHERE started_at >= $1 GROUP BY status', [since])).rows;
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }
}
