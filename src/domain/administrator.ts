// Administrators of the web console and admin API: names, roles and what each role may do.

import { DeployrError } from './errors.js';

/** The roles, weakest first: a viewer reads (never secrets), an operator runs the day-to-day, an admin also changes security and administrators. */
export const ADMIN_ROLES = ['viewer', 'operator', 'admin'] as const;

/** One role. */
export type AdminRole = (typeof ADMIN_ROLES)[number];

/** An administrator as stored (the password only as an argon2id PHC string). */
export interface Administrator {
  name: string;
  role: AdminRole;
  passwordHash: string;
  createdAt: string;
  passwordChangedAt: string;
}

/** An administrator as listed: never the hash. */
export type AdministratorSummary = Omit<Administrator, 'passwordHash'>;

/** Names: a letter, then letters, digits, `.`, `_` or `-`; at most 64 characters; compared as given (lower case). */
export const ADMIN_NAME_PATTERN = '^[a-z][a-z0-9._-]{0,63}$';

const NAME = new RegExp(ADMIN_NAME_PATTERN);

/** Checks an administrator name; INVALID_INPUT (with no more than the rule) otherwise. */
export function checkAdminName(name: string): string {
  if (!NAME.test(name)) throw new DeployrError('INVALID_INPUT', 'An administrator name is a lower-case letter followed by up to 63 lower-case letters, digits, ".", "_" or "-".');
  return name;
}

/** Checks a role name; INVALID_INPUT otherwise. */
export function parseAdminRole(role: string): AdminRole {
  if (!(ADMIN_ROLES as readonly string[]).includes(role)) throw new DeployrError('INVALID_INPUT', `The role must be admin, operator or viewer, not "${role.slice(0, 40)}".`);
  return role as AdminRole;
}

/** True when a holder of `role` may do what needs `needed` (admin ⊃ operator ⊃ viewer). */
export function roleAllows(role: AdminRole, needed: AdminRole): boolean {
  return ADMIN_ROLES.indexOf(role) >= ADMIN_ROLES.indexOf(needed);
}

/** A server-side console session (the store keeps only a hash of its token). */
export interface AdminSession {
  /** SHA-256 of the cookie's token (hex). */
  idHash: string;
  name: string;
  createdAt: number;
  lastSeenAt: number;
  source: string;
}
