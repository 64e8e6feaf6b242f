// The store ports of the web console and admin API: administrators, their sessions, and what changed in runs.

import type { AuditEvent } from '../domain/audit.js';
import type { Administrator, AdminRole, AdminSession } from '../domain/administrator.js';
import type { RunRecord } from '../domain/run.js';

/** Administrators; every change is written with its audit event in one transaction. */
export interface AdministratorStore {
  /** Every administrator, by name. */
  listAdministrators(): Promise<Administrator[]>;
  /** One administrator, or null. */
  getAdministrator(name: string): Promise<Administrator | null>;
  /** Adds one; CONFLICT when the name is taken. */
  addAdministrator(admin: Administrator, event: AuditEvent): Promise<void>;
  /** Replaces the password hash and ends the administrator's sessions; NOT_FOUND when missing. */
  setAdministratorPassword(name: string, passwordHash: string, changedAt: string, event: AuditEvent): Promise<void>;
  /** Changes the role and ends the administrator's sessions; NOT_FOUND when missing, CONFLICT when it would leave no admin. */
  setAdministratorRole(name: string, role: AdminRole, event: AuditEvent): Promise<void>;
  /** Removes one with its sessions; NOT_FOUND when missing, CONFLICT when it is the last admin. */
  removeAdministrator(name: string, event: AuditEvent): Promise<void>;
}

/** Console sessions, kept by the SHA-256 of their token. */
export interface AdminSessionStore {
  /** Saves a new session. */
  createAdminSession(session: AdminSession): Promise<void>;
  /** A session by the hash of its token, or null. */
  getAdminSession(idHash: string): Promise<AdminSession | null>;
  /** Marks a session used now. */
  touchAdminSession(idHash: string, at: number): Promise<void>;
  /** Ends one session. */
  deleteAdminSession(idHash: string): Promise<void>;
  /** Removes sessions idle since before `idleBefore` or created before `createdBefore`; returns how many. */
  deleteExpiredAdminSessions(idleBefore: number, createdBefore: number): Promise<number>;
}

/** What the dashboard follows. */
export interface RunWatchStore {
  /** Runs whose last change is at or after `after` (ISO 8601), oldest change first, at most `limit`. */
  runsChangedSince(after: string, limit: number): Promise<RunRecord[]>;
  /** How many runs started at or after `since` (ISO 8601), by status. */
  runCountsSince(since: string): Promise<Record<string, number>>;
}

/** Everything the console and admin API need from the store beyond the service's ports. */
export interface AdminConsoleStore extends AdministratorStore, AdminSessionStore, RunWatchStore {}
