// What the admin API needs: the same engine and auth use cases as the CLI, plus the console's sessions.

import type { AdminSessions } from '../../../auth/admin-sessions.js';
import type { Administrators } from '../../../auth/administrators.js';
import type { ScopedPasscodes } from '../../../auth/scoped-passcodes.js';
import type { SecurityAdmin } from '../../../auth/security-admin.js';
import type { RunWatchStore } from '../../../engine/admin-ports.js';
import type { BootMediaJobs } from '../../../engine/boot-media.js';
import type { ContentCatalog } from '../../../engine/content-catalog.js';
import type { ContentLibrary } from '../../../engine/content-library.js';
import type { ContentLifecycle } from '../../../engine/content-lifecycle.js';
import type { AuditStore, LoginStore, VersionedSecuritySettings } from '../../../engine/ports.js';
import type { RunRegistry } from '../../../engine/run-registry.js';
import type { StepDefinitionCatalog } from '../../../engine/step-definition-catalog.js';
import type { TaskSequenceCatalog } from '../../../engine/task-sequence-catalog.js';

/** The admin API's dependencies (wired in server/service.ts). */
export interface AdminApiDeps {
  sessions: AdminSessions;
  administrators: Administrators;
  security: SecurityAdmin;
  /** Scoped passcodes (the same use case as `deployr passcode`). */
  passcodes: ScopedPasscodes;
  readSecurity(): Promise<VersionedSecuritySettings>;
  taskSequences: TaskSequenceCatalog;
  stepDefinitions: StepDefinitionCatalog;
  content: ContentCatalog;
  contentLibrary?: ContentLibrary;
  contentLifecycle?: ContentLifecycle;
  runs: RunRegistry;
  runWatch: RunWatchStore;
  audit: AuditStore;
  logins: LoginStore;
  /** A folder for uploads in progress (content versions). */
  uploadDir: string;
  /** How often the dashboard's run feed looks for changes (ms; default 500). */
  runPollMs?: number;
  /** A running run with no report for this long shows as stale (seconds; default 600). */
  staleAfterSeconds?: number;
  /** Boot media builds (absent: the media routes answer UNAVAILABLE). */
  bootMedia?: BootMediaJobs;
  /** The SHA-256 fingerprint of the service's TLS certificate (what new media pin). */
  tlsFingerprint?: string;
}
