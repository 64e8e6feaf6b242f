// Scoped passcodes in PostgreSQL (the ScopedPasscodeStore port): adds and revocations move the security revision and notify every node; a login takes one use atomically.

import type { AuditEvent } from '../../domain/audit.js';
import { DeployrError } from '../../domain/errors.js';
import type { StoredScopedPasscode } from '../../domain/scoped-passcode.js';
import { toScoped, type ScopedRow } from '../record-rows.js';
import { appendAudit, lockAudit, type AuditContext } from './audit-log.js';
import type { PgDatabase, Queryable } from './connection.js';
import { recordSuccessIn } from './login-records.js';

/**
 * Moves the security revision without changing the settings (a row with the defaults is made when
 * there is none) and tells every node (NOTIFY on `channel`, delivered when the transaction commits).
 */
export async function bumpSecurityRevision(tx: Queryable, channel: string): Promise<void> {
  await tx.query("INSERT INTO security_settings (id, doc, revision, updated_at) VALUES (1, '{}', 1, $1) ON CONFLICT (id) DO UPDATE SET revision = security_settings.revision + 1",
    [new Date().toISOString()]);
  await tx.query("SELECT pg_notify($1, 'security')", [channel]);
}

/** Every scoped passcode, oldest first (ties by id: PostgreSQL has no rowid). */
export async function listScopedPasscodes(db: Queryable): Promise<StoredScopedPasscode[]> {
  return (await db.query<ScopedRow>('SELECT * FROM scoped_passcodes ORDER BY created_at COLLATE "C", id COLLATE "C"')).rows.map(toScoped);
}

/** Adds one with its audit row, moving the security revision; CONFLICT on a taken name or public id. */
export async function addScopedPasscode(db: PgDatabase, audit: AuditContext, channel: string, p: StoredScopedPasscode, event: AuditEvent): Promise<void> {
  await db.transaction(async (tx) => {
    await lockAudit(tx, audit);
    if ((await tx.query('SELECT 1 FROM scoped_passcodes WHERE name = $1 AND revoked_at IS NULL', [p.name])).rows.length > 0) {
      throw new DeployrError('CONFLICT', `There is already a scoped passcode named ${p.name} (revoke it first); nothing changed.`);
    }
    if (p.publicId !== null && (await tx.query('SELECT 1 FROM scoped_passcodes WHERE public_id = $1 AND revoked_at IS NULL', [p.publicId])).rows.length > 0) {
      throw new DeployrError('CONFLICT', 'The generated identifier is taken; nothing changed.', { publicIdTaken: true });
    }
    await tx.query(`INSERT INTO scoped_passcodes (id, name, hash, public_id, scope, expires_at, max_uses, uses, created_at, created_by, last_used_at, revoked_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [p.id, p.name, p.hash, p.publicId, JSON.stringify(p.scope), p.expiresAt, p.maxUses, p.uses, p.createdAt, p.createdBy, p.lastUsedAt, p.revokedAt]);
    await bumpSecurityRevision(tx, channel);
    await appendAudit(tx, audit, event);
  });
}

/** Revokes the unrevoked one named `name` with its audit row, moving the security revision; NOT_FOUND when none. */
export async function revokeScopedPasscode(db: PgDatabase, audit: AuditContext, channel: string, name: string, revokedAt: string, event: AuditEvent): Promise<StoredScopedPasscode> {
  return db.transaction(async (tx) => {
    await lockAudit(tx, audit);
    const row = (await tx.query<ScopedRow>('SELECT * FROM scoped_passcodes WHERE name = $1 AND revoked_at IS NULL', [name])).rows[0];
    if (!row) throw new DeployrError('NOT_FOUND', `No scoped passcode named ${name} (or it is already revoked).`);
    await tx.query('UPDATE scoped_passcodes SET revoked_at = $1 WHERE id = $2', [revokedAt, row.id]);
    await bumpSecurityRevision(tx, channel);
    await appendAudit(tx, audit, event);
    return toScoped({ ...row, revoked_at: revokedAt });
  });
}

/** Takes one use of scoped passcode `id` and records the login's success; false (nothing written) when no use is left. */
export async function recordScopedPasscodeLogin(db: PgDatabase, audit: AuditContext, input: { id: string; at: string; keys: string[]; event: AuditEvent }): Promise<boolean> {
  return db.transaction(async (tx) => {
    await lockAudit(tx, audit);
    // One statement decides, under the row's lock: concurrent logins on every node count each use once.
    const taken = await tx.query(`UPDATE scoped_passcodes SET uses = uses + 1, last_used_at = $1
      WHERE id = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3) AND (max_uses IS NULL OR uses < max_uses)`,
    [input.at, input.id, input.at]);
    if (taken.rowCount !== 1) return false;
    await recordSuccessIn(tx, audit, { keys: input.keys, event: input.event });
    return true;
  });
}
