// The audit trail's entries: every login attempt and every settings change.

/** What an audit entry records. */
export type AuditKind = 'login' | 'settings' | 'alert' | 'throttle' | 'content' | 'task-sequence' | 'step-definition' | 'run' | 'keys' | 'administrator';

/** Every audit entry kind. */
export const AUDIT_KINDS: readonly AuditKind[] = ['login', 'settings', 'alert', 'throttle', 'content', 'task-sequence', 'step-definition', 'run', 'keys', 'administrator'];

/** The `method` values deployr writes (a filter also accepts any value already in the trail). */
export const AUDIT_METHODS: readonly string[] = [
  'passcode', 'anonymous', 'certificate', 'entra', 'security', 'import', 'activate', 'create', 'add-version', 'deactivate',
  'delete-version', 'delete', 'collect-garbage', 'clear', 'start', 'finish', 'interrupt', 'server-script', 'prune', 'signing-key', 'rename', 'admin', 'administrators', 'media-build',
  'scoped-passcode',
];

/** The `result` values deployr writes (a filter also accepts any value already in the trail). */
export const AUDIT_RESULTS: readonly string[] = [
  'success', 'failure', 'changed', 'created', 'replaced', 'deleted', 'raised', 'cleared', 'started', 'succeeded', 'failed', 'interrupted', 'sealed', 'rotated',
];

/** One audit entry as written (the store adds `seq`, `at` and the chain MAC). */
export interface AuditEvent {
  kind: AuditKind;
  /** For logins: the method; for settings: the section; otherwise what was acted on. */
  method: string;
  /** `success` or `failure` (logins), `changed` (settings), or another short word. */
  result: string;
  /** A stable reason code (for example `wrong_passcode`, `throttled`, `passcode_set`). */
  reason: string;
  /** Who: a user, a certificate thumbprint, "passcode", "anonymous", or "admin". */
  subject: string;
  /** The source address, when there is one. */
  source: string | null;
  /** The device id the client sent, when it sent one. */
  device: string | null;
  /** More non-secret facts. Never a passcode or token. */
  detail: Record<string, unknown>;
}

/** An audit entry as stored. */
export interface AuditEntry extends AuditEvent {
  seq: number;
  /** ISO 8601 time. */
  at: string;
  /** HMAC-SHA256 chained to the previous entry (hex). */
  mac: string;
}
