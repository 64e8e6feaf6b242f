// Administrators of the console and admin API: add, list, change password or role, remove; argon2id, audited.

import type { AuditEvent } from '../domain/audit.js';
import { checkAdminName, parseAdminRole, type AdministratorSummary } from '../domain/administrator.js';
import { DeployrError } from '../domain/errors.js';
import { checkNewPasscode } from '../domain/passcode-policy.js';
import type { AdministratorStore } from '../engine/admin-ports.js';
import type { PasscodeHasher } from './passcode-hasher.js';

/** Who acts: the CLI is `{ subject: 'admin', source: 'local' }`, the console the signed-in administrator and their address. */
export interface AdminActor {
  subject: string;
  source: string | null;
}

/**
 * Checks a new administrator password with the passcode rules (length, blocklist, no single
 * repeated character); PASSCODE_REJECTED with a one-line reason that never quotes it. Returns warnings.
 */
export function checkAdminPassword(password: string): string[] {
  try {
    return checkNewPasscode(password).warnings.map((w) => w.replace(/passcode/g, 'password'));
  } catch (err) {
    if (err instanceof DeployrError) throw new DeployrError(err.code, err.message.replace(/passcode/g, 'password'));
    throw err;
  }
}

function event(actor: AdminActor, reason: string, detail: Record<string, unknown>): AuditEvent {
  return { kind: 'administrator', method: 'administrators', result: 'changed', reason, subject: actor.subject, source: actor.source, device: null, detail };
}

/** The administrator use cases, shared by `deployr admin` and `/v1/admin/administrators`. */
export class Administrators {
  constructor(private readonly store: AdministratorStore, private readonly hasher: PasscodeHasher, private readonly now: () => Date = () => new Date()) {}

  /** Every administrator (never a hash). */
  async list(): Promise<AdministratorSummary[]> {
    return (await this.store.listAdministrators()).map(({ passwordHash: _h, ...rest }) => rest);
  }

  /** Adds an administrator; returns password warnings. */
  async add(input: { name: string; role: string; password: string }, actor: AdminActor): Promise<{ warnings: string[] }> {
    const name = checkAdminName(input.name);
    const role = parseAdminRole(input.role);
    const warnings = checkAdminPassword(input.password);
    if (await this.store.getAdministrator(name)) throw new DeployrError('CONFLICT', `There is already an administrator named ${name}; nothing changed.`);
    const at = this.now().toISOString();
    await this.store.addAdministrator({ name, role, passwordHash: await this.hasher.hash(input.password), createdAt: at, passwordChangedAt: at }, event(actor, 'administrator_added', { name, role }));
    return { warnings };
  }

  /** Sets a new password (the administrator's sessions end); returns password warnings. */
  async setPassword(name: string, password: string, actor: AdminActor): Promise<{ warnings: string[] }> {
    checkAdminName(name);
    const warnings = checkAdminPassword(password);
    if (!(await this.store.getAdministrator(name))) throw new DeployrError('NOT_FOUND', `No administrator named ${name}.`);
    await this.store.setAdministratorPassword(name, await this.hasher.hash(password), this.now().toISOString(), event(actor, 'administrator_password_changed', { name }));
    return { warnings };
  }

  /** Changes a role (the administrator's sessions end); the last admin cannot be demoted. */
  async setRole(name: string, role: string, actor: AdminActor): Promise<void> {
    checkAdminName(name);
    const r = parseAdminRole(role);
    await this.store.setAdministratorRole(name, r, event(actor, 'administrator_role_changed', { name, role: r }));
  }

  /** Removes an administrator and their sessions; the last admin cannot be removed. */
  async remove(name: string, actor: AdminActor): Promise<void> {
    checkAdminName(name);
    await this.store.removeAdministrator(name, event(actor, 'administrator_removed', { name }));
  }
}
