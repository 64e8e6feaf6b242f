// The admin API's wire shapes that the web console reads (the routes' TypeBox schemas are in src/server/routes/admin).

import type { RunDetail, RunSummary } from './contract.js';

/** The admin API's base path. */
export const ADMIN_BASE = '/v1/admin';

/** One role of an administrator, weakest first: viewer, operator, admin. */
export type AdminRoleName = 'viewer' | 'operator' | 'admin';

/** `GET /v1/admin/session`. */
export interface AdminSessionInfo {
  name: string;
  role: AdminRoleName;
  csrfToken: string;
  expiresAt: string;
  idleExpiresAt: string;
}

/** A run as the admin API shows it. */
export type AdminRun = RunSummary & { stale: boolean };

/** `GET /v1/admin/runs/{id}`. */
export type AdminRunDetail = RunDetail & { stale: boolean };

/** `GET /v1/admin/dashboard`. */
export interface DashboardInfo {
  today: { since: string; running: number; rebooting: number; succeeded: number; failed: number };
  running: AdminRun[];
  stale: number;
  alerts: { code: string; message: string }[];
}

/** `GET /v1/admin/security` (never a secret). */
export interface SecurityInfo {
  revision: number;
  updatedAt: string;
  methods: { method: string; needs: string }[];
  passcode: { changedAt: string; ageSeconds: number; generation: number; reminderDue: boolean } | null;
  previousPasscodeValidUntil: string | null;
  rotationOverlapSeconds: number;
  remindAfterSeconds: number;
  bypass: boolean;
  entra: { tenantId: string; clientId: string; role: string; authority: string } | null;
  certificate: {
    subjectPattern: string | null; sanPattern: string | null; crlPath: string | null; requireClientAuthEku: boolean;
    caCertificates: { subject: string; notAfter: string; sha256: string }[];
  } | null;
  warnings?: string[];
}

/** One audit entry. */
export interface AuditEntryInfo {
  seq: number;
  at: string;
  kind: string;
  method: string;
  result: string;
  reason: string;
  subject: string;
  source: string | null;
  device: string | null;
  detail: Record<string, unknown>;
}

/** One administrator (never a password or hash). */
export interface AdministratorInfo {
  name: string;
  role: AdminRoleName;
  createdAt: string;
  passwordChangedAt: string;
}

/** A boot media build started from the console (`job` of the media routes). */
export interface BootMediaJobInfo {
  id: string;
  state: 'running' | 'succeeded' | 'failed';
  by: string;
  startedAt: string;
  finishedAt: string | null;
  server: string;
  secureBoot: boolean;
  lines: string[];
  error: string | null;
}

/** `GET /v1/admin/media/status`: what is published under /Content/Boot, and the last build started on this server. */
export interface BootMediaStatusInfo {
  published: boolean;
  builtAt: string | null;
  kernelVersion: string | null;
  nodeVersion: string | null;
  server: string | null;
  fingerprint: string | null;
  currentFingerprint: string | null;
  matchesCertificate: boolean | null;
  secureBoot: boolean | null;
  files: { name: string; size: number; sha256: string; intact: boolean; url: string }[];
  manifestUrl: string | null;
  job: BootMediaJobInfo | null;
}

/** One scoped passcode as `GET /v1/admin/passcodes` shows it (never the passcode or its hash). */
export interface ScopedPasscodeInfo {
  name: string;
  kind: 'typed' | 'generated';
  publicId: string | null;
  scope: { taskSequences: string[]; sources: string[]; context: 'boot' | 'fullos' | null };
  expiresAt: string | null;
  maxUses: number | null;
  usesLeft: number | null;
  uses: number;
  lastUsedAt: string | null;
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
  state: 'active' | 'expired' | 'used-up' | 'revoked';
}

/** `POST /v1/admin/passcodes`: the new one, and (with `generate`) the passcode itself, in this response only. */
export interface AddedScopedPasscodeInfo {
  passcode: ScopedPasscodeInfo;
  generated?: string;
  warnings: string[];
}
