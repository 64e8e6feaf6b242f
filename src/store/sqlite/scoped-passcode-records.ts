// Scoped passcodes in SQLite (the ScopedPasscodeStore port): adds and revocations move the security revision; a login takes one use atomically.

import type { AuditEvent } from '../../domain/audit.js';
import { DeployrError } from '../../domain/errors.js';
import type { StoredScopedPasscode } from '../../domain/scoped-passcode.js';
import { toScoped, type ScopedRow } from '../record-rows.js';
import { appendAudit } from './audit-log.js';
import type { SqliteDatabase } from './connection.js';
import { recordSuccess } from './login-records.js';

/** Moves the security revision without changing the settings (a row with the defaults is made when there is none). */
function bumpSecurityRevision(db: SqliteDatabase): void {
  db.prepare("INSERT INTO security_settings (id, doc, revision, updated_at) VALUES (1, '{}', 1, ?) ON CONFLICT (id) DO UPDATE SET revision = revision + 1")
    .run(new Date().toISOString());
}

/** Every scoped passcode, oldest first. */
export function listScopedPasscodes(db: SqliteDatabase): StoredScopedPasscode[] {
  return (db.prepare('SELECT * FROM scoped_passcodes ORDER BY created_at, rowid').all() as ScopedRow[]).map(toScoped);
}

/** Adds one with its audit row, moving the security revision; CONFLICT on a taken name or public id. */
export function addScopedPasscode(db: SqliteDatabase, auditKey: Buffer, p: StoredScopedPasscode, event: AuditEvent): void {
  db.transaction(() => {
    if (db.prepare('SELECT 1 FROM scoped_passcodes WHERE name = ? AND revoked_at IS NULL').get(p.name)) {
      throw new DeployrError('CONFLICT', `There is already a scoped passcode named ${p.name} (revoke it first); nothing changed.`);
    }
    if (p.publicId !== null && db.prepare('SELECT 1 FROM scoped_passcodes WHERE public_id = ? AND revoked_at IS NULL').get(p.publicId)) {
      throw new DeployrError('CONFLICT', 'The generated identifier is taken; nothing changed.', { publicIdTaken: true });
    }
    db.prepare(`INSERT INTO scoped_passcodes (id, name, hash, public_id, scope, expires_at, max_uses, uses, created_at, created_by, last_used_at, revoked_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(p.id, p.name, p.hash, p.publicId, JSON.stringify(p.scope), p.expiresAt, p.maxUses, p.uses, p.createdAt, p.createdBy, p.lastUsedAt, p.revokedAt);
    bumpSecurityRevision(db);
    appendAudit(db, auditKey, event);
  }).immediate();
}

/** Revokes the unrevoked one named `name` with its audit row, moving the security revision; NOT_FOUND when none. */
export function revokeScopedPasscode(db: SqliteDatabase, auditKey: Buffer, name: string, revokedAt: string, event: AuditEvent): StoredScopedPasscode {
  return db.transaction(() => {
    const row = db.prepare('SELECT * FROM scoped_passcodes WHERE name = ? AND revoked_at IS NULL').get(name) as ScopedRow | undefined;
    if (!row) throw new DeployrError('NOT_FOUND', `No scoped passcode named ${name} (or it is already revoked).`);
    db.prepare('UPDATE scoped_passcodes SET revoked_at = ? WHERE id = ?').run(revokedAt, row.id);
    bumpSecurityRevision(db);
    appendAudit(db, auditKey, event);
    return toScoped({ ...row, revoked_at: revokedAt });
  }).immediate();
}

/** Takes one use of scoped passcode `id` and records the login's success; false (nothing written) when no use is left. */
export function recordScopedPasscodeLogin(db: SqliteDatabase, auditKey: Buffer, input: { id: string; at: string; keys: string[]; event: AuditEvent }): boolean {
  return db.transaction(() => {
    // One statement decides: concurrent logins (other workers, other processes) serialise on SQLite's write lock.
    const taken = db.prepare(`UPDATE scoped_passcodes SET uses = uses + 1, last_used_at = ?
      WHERE id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) AND (max_uses IS NULL OR uses < max_uses)`)
      .run(input.at, input.id, input.at);
    if (taken.changes !== 1) return false;
    recordSuccess(db, auditKey, { keys: input.keys, event: input.event });
    return true;
  }).immediate();
}
