// Administrators, console sessions and run changes in SQLite (the AdminConsoleStore port).

import type { AuditEvent } from '../../domain/audit.js';
import type { Administrator, AdminRole, AdminSession } from '../../domain/administrator.js';
import { DeployrError } from '../../domain/errors.js';
import type { RunRecord } from '../../domain/run.js';
import { appendAudit } from './audit-log.js';
import type { SqliteDatabase } from './connection.js';
import { toAdmin, toRun, type AdminRow, type RunRow, type SessionRow } from '../record-rows.js';

function missing(name: string): DeployrError {
  return new DeployrError('NOT_FOUND', `No administrator named ${name}.`);
}

/** The administrator store and session store over one database, with audit appends keyed by `auditKey`. */
export class AdminRecords {
  constructor(private readonly db: SqliteDatabase, private readonly auditKey: Buffer) {}

  listAdministrators(): Administrator[] {
    return (this.db.prepare('SELECT * FROM administrators ORDER BY name').all() as AdminRow[]).map(toAdmin);
  }

  getAdministrator(name: string): Administrator | null {
    const row = this.db.prepare('SELECT * FROM administrators WHERE name = ?').get(name) as AdminRow | undefined;
    return row ? toAdmin(row) : null;
  }

  addAdministrator(a: Administrator, event: AuditEvent): void {
    this.db.transaction(() => {
      if (this.db.prepare('SELECT 1 FROM administrators WHERE name = ?').get(a.name)) throw new DeployrError('CONFLICT', `There is already an administrator named ${a.name}; nothing changed.`);
      this.db.prepare('INSERT INTO administrators (name, role, password_hash, created_at, password_changed_at) VALUES (?, ?, ?, ?, ?)')
        .run(a.name, a.role, a.passwordHash, a.createdAt, a.passwordChangedAt);
      appendAudit(this.db, this.auditKey, event);
    }).immediate();
  }

  setAdministratorPassword(name: string, hash: string, changedAt: string, event: AuditEvent): void {
    this.db.transaction(() => {
      const r = this.db.prepare('UPDATE administrators SET password_hash = ?, password_changed_at = ? WHERE name = ?').run(hash, changedAt, name);
      if (r.changes === 0) throw missing(name);
      this.db.prepare('DELETE FROM admin_sessions WHERE name = ?').run(name);
      appendAudit(this.db, this.auditKey, event);
    }).immediate();
  }

  /** True when taking `name` away from the admin role would leave no admin. */
  private isLastAdmin(name: string): boolean {
    const role = this.db.prepare('SELECT role FROM administrators WHERE name = ?').pluck().get(name) as string | undefined;
    if (role !== 'admin') return false;
    return (this.db.prepare("SELECT COUNT(*) FROM administrators WHERE role = 'admin'").pluck().get() as number) <= 1;
  }

  setAdministratorRole(name: string, role: AdminRole, event: AuditEvent): void {
    this.db.transaction(() => {
      if (!this.db.prepare('SELECT 1 FROM administrators WHERE name = ?').get(name)) throw missing(name);
      if (role !== 'admin' && this.isLastAdmin(name)) throw new DeployrError('CONFLICT', `${name} is the last administrator with the admin role; add another admin first. Nothing changed.`);
      this.db.prepare('UPDATE administrators SET role = ? WHERE name = ?').run(role, name);
      this.db.prepare('DELETE FROM admin_sessions WHERE name = ?').run(name);
      appendAudit(this.db, this.auditKey, event);
    }).immediate();
  }

  removeAdministrator(name: string, event: AuditEvent): void {
    this.db.transaction(() => {
      if (!this.db.prepare('SELECT 1 FROM administrators WHERE name = ?').get(name)) throw missing(name);
      if (this.isLastAdmin(name)) throw new DeployrError('CONFLICT', `${name} is the last administrator with the admin role; add another admin first. Nothing changed.`);
      this.db.prepare('DELETE FROM admin_sessions WHERE name = ?').run(name);
      this.db.prepare('DELETE FROM administrators WHERE name = ?').run(name);
      appendAudit(this.db, this.auditKey, event);
    }).immediate();
  }

  createAdminSession(s: AdminSession): void {
    this.db.prepare('INSERT INTO admin_sessions (id_hash, name, created_at, last_seen_at, source) VALUES (?, ?, ?, ?, ?)').run(s.idHash, s.name, s.createdAt, s.lastSeenAt, s.source);
  }

  getAdminSession(idHash: string): AdminSession | null {
    const r = this.db.prepare('SELECT * FROM admin_sessions WHERE id_hash = ?').get(idHash) as SessionRow | undefined;
    return r ? { idHash: r.id_hash, name: r.name, createdAt: r.created_at, lastSeenAt: r.last_seen_at, source: r.source } : null;
  }

  touchAdminSession(idHash: string, at: number): void {
    this.db.prepare('UPDATE admin_sessions SET last_seen_at = ? WHERE id_hash = ? AND last_seen_at < ?').run(at, idHash, at);
  }

  deleteAdminSession(idHash: string): void {
    this.db.prepare('DELETE FROM admin_sessions WHERE id_hash = ?').run(idHash);
  }

  deleteExpiredAdminSessions(idleBefore: number, createdBefore: number): number {
    return this.db.prepare('DELETE FROM admin_sessions WHERE last_seen_at < ? OR created_at < ?').run(idleBefore, createdBefore).changes;
  }

  runsChangedSince(after: string, limit: number): RunRecord[] {
    return (this.db.prepare('SELECT * FROM runs WHERE updated_at >= ? ORDER BY updated_at, id LIMIT ?').all(after, Math.max(1, Math.min(limit, 10_000))) as RunRow[]).map(toRun);
  }

  runCountsSince(since: string): Record<string, number> {
    const rows = this.db.prepare('SELECT status, COUNT(*) AS n FROM runs WHERE started_at >= ? GROUP BY status').all(since) as { status: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }
}
