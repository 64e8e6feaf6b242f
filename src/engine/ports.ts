// The store interfaces (ports) the use cases need; src/store implements them for SQLite (and later PostgreSQL).

import type { AuditEntry, AuditEvent, AuditKind } from '../domain/audit.js';
import type { ContentItem } from '../domain/content-item.js';
import type { SecuritySettings } from '../domain/security-settings.js';
import type { GlobalThrottleRecord, ThrottlePolicy, ThrottleRecord } from '../domain/throttle.js';
import type { TaskSequence } from '../domain/task-sequence.js';
import type { StepDefinition } from '../domain/step-definition.js';
import type { RunRecord, RunStepRecord } from '../domain/run.js';
import type { AdminConsoleStore } from './admin-ports.js';
import type { StoredScopedPasscode } from '../domain/scoped-passcode.js';

/** Security settings with the revision that changes on every save. */
export interface VersionedSecuritySettings {
  settings: SecuritySettings;
  revision: number;
  updatedAt: string;
}

/** Where the security settings live. */
export interface SecurityStore {
  /** The current settings and their revision. */
  getSecurity(): Promise<VersionedSecuritySettings>;
  /** The current revision only (cheap; polled by running services). */
  getSecurityRevision(): Promise<number>;
  /**
   * Replaces the settings when the stored revision is still `expectedRevision`, and appends the
   * audit events in the same transaction. Throws CONFLICT when someone else saved first.
   */
  saveSecurity(next: SecuritySettings, expectedRevision: number, events: AuditEvent[]): Promise<number>;
}

/** Filters for reading the audit trail. */
export interface AuditFilter {
  since?: string;
  kind?: AuditKind;
  method?: string;
  result?: string;
  limit?: number;
}

/** The result of checking the audit chain. */
export interface AuditVerification {
  ok: boolean;
  checked: number;
  /** The first entry whose MAC does not match (edited, or a predecessor deleted). */
  brokenAt: number | null;
}

/** The append-only, chained audit trail. */
export interface AuditStore {
  append(event: AuditEvent): Promise<AuditEntry>;
  list(filter: AuditFilter): Promise<AuditEntry[]>;
  verify(): Promise<AuditVerification>;
}

/** Login bookkeeping: throttle counters and the login's audit row, written together. */
export interface LoginStore {
  /** The throttle records for these keys (missing ones empty) and the global record. */
  throttleState(keys: string[]): Promise<{ records: Map<string, ThrottleRecord>; global: GlobalThrottleRecord }>;
  /** Counts a failure for every key and globally, and appends the audit event (and an alert, when raised). */
  recordFailure(input: { keys: string[]; digest: string; now: number; policy: ThrottlePolicy; event: AuditEvent }): Promise<{ alertRaised: boolean; global: GlobalThrottleRecord }>;
  /** Clears the keys' records and the global count, and appends the audit event. */
  recordSuccess(input: { keys: string[]; event: AuditEvent }): Promise<AuditEntry>;
  /** Every stored counter (by key) and the global record, for the administrator. */
  listThrottle(): Promise<{ records: { key: string; record: ThrottleRecord }[]; global: GlobalThrottleRecord }>;
  /**
   * An administrator's reset: removes the counters of `address` (its address counter and the counter
   * of every device at it), or every counter with `all`; with `resetAlert` also the global count and
   * alert. Appends `event` (with what was cleared added to its detail) in the same transaction.
   */
  clearThrottle(input: { address?: string; all?: boolean; resetAlert?: boolean; event: AuditEvent }): Promise<{ cleared: number; alertCleared: boolean }>;
}

/**
 * Scoped passcodes (docs/passcodes.md). Adding or revoking one moves the security settings'
 * revision in the same transaction, so every running service (each node, each worker) re-reads the
 * list on its next request, as it does after a rotation.
 */
export interface ScopedPasscodeStore {
  /** Every scoped passcode, revoked ones included, oldest first (with hashes: for the service only). */
  listScopedPasscodes(): Promise<StoredScopedPasscode[]>;
  /**
   * Adds one and appends `event`, and moves the security revision, in one transaction. CONFLICT
   * (nothing written) when an unrevoked one has the same name, or the same `publicId`.
   */
  addScopedPasscode(passcode: StoredScopedPasscode, event: AuditEvent): Promise<void>;
  /**
   * Sets `revokedAt` of the unrevoked one named `name`, appends `event` and moves the security
   * revision, in one transaction; returns it as revoked. NOT_FOUND (nothing written) when none.
   */
  revokeScopedPasscode(name: string, revokedAt: string, event: AuditEvent): Promise<StoredScopedPasscode>;
  /**
   * A login with scoped passcode `id`, in one transaction: takes one use (only while it is not
   * revoked, not expired at `at` and has uses left; sets `lastUsedAt` to `at`), clears the throttle
   * `keys` and appends `event` as `recordSuccess` does. Returns false, and writes nothing, when no use
   * could be taken (then the login fails). Atomic across processes and nodes: N uses, N logins.
   */
  recordScopedPasscodeLogin(input: { id: string; at: string; keys: string[]; event: AuditEvent }): Promise<boolean>;
}

/**
 * A token-signing key as stored. The private key is kept only sealed (encrypted under a key held
 * outside the store, see src/auth/key-sealing.ts); once the key stops signing it is erased.
 */
export interface StoredSigningKey {
  kid: string;
  /** The sealed private key; `''` once the key no longer signs. (A store written before sealing may hold a plain JWK here until the first start migrates it.) */
  sealedPrivateKey: string;
  publicJwk: Record<string, unknown>;
  createdAt: string;
  /** When a newer key replaced it; null while it signs. */
  supersededAt: string | null;
  /** Until when tokens it signed are accepted; null while it signs. */
  verifyUntil: string | null;
}

/** A new key to add. */
export interface NewSigningKey {
  kid: string;
  sealedPrivateKey: string;
  publicJwk: Record<string, unknown>;
}

/** Where the token signing keys live. */
export interface KeyStore {
  /** Every signing key, oldest first. */
  listSigningKeys(): Promise<StoredSigningKey[]>;
  /** Adds `key` only when there is no key at all (two processes may race on first start; the first wins). */
  addFirstSigningKey(key: NewSigningKey): Promise<void>;
  /**
   * In one transaction, when the key that signs is still `expectedActiveKid`: marks it replaced
   * (erasing its private key; it verifies until `verifyUntil`), adds `next` as the key that signs,
   * and appends `event`. Throws CONFLICT when another rotation came first.
   */
  rotateSigningKey(input: { expectedActiveKid: string; next: NewSigningKey; verifyUntil: string; event: AuditEvent }): Promise<void>;
  /**
   * Replaces sealed private keys (sealing plain ones, or sealing under a new key-encryption key) in
   * one transaction with `event`, each only while it still holds `expected`; otherwise CONFLICT and
   * nothing changes.
   */
  resealSigningKeys(updates: { kid: string; expected: string; sealed: string }[], event: AuditEvent): Promise<void>;
}

/** Task sequences in DeployR's export shape. */
export interface TaskSequenceStore {
  putTaskSequence(ts: TaskSequence, event: AuditEvent): Promise<void>;
  getTaskSequence(id: string): Promise<TaskSequence | null>;
  /** Every task sequence; the array is read-only (a store may hand out one cached, frozen array while nothing changed). */
  listTaskSequences(): Promise<readonly TaskSequence[]>;
  /** `listTaskSequences` without waiting, for a store that can answer that way (the embedded one). */
  listTaskSequencesNow?(): readonly TaskSequence[];
  /** Deletes one task sequence and appends `event`, in one transaction; false (nothing written) when there is none. */
  deleteTaskSequence(id: string, event: AuditEvent): Promise<boolean>;
}

/** Custom step definitions in DeployR's export shape. */
export interface StepDefinitionStore {
  /** Saves (adds or replaces) a step definition and appends its audit event, in one transaction. */
  putStepDefinition(def: StepDefinition, event: AuditEvent): Promise<void>;
  /** One step definition by its (lower-case) id, or null. */
  getStepDefinition(id: string): Promise<StepDefinition | null>;
  /** Every step definition, by name. */
  listStepDefinitions(): Promise<StepDefinition[]>;
  /** Deletes one step definition and appends `event`, in one transaction; false (nothing written) when there is none. */
  deleteStepDefinition(id: string, event: AuditEvent): Promise<boolean>;
}

/** Content item metadata. */
export interface ContentItemStore {
  /**
   * Saves the item with its audit event. With `expected`, only when the stored item is still
   * exactly `expected` (`null`: when there is none yet); otherwise CONFLICT and nothing is saved.
   */
  putContentItem(item: ContentItem, event: AuditEvent, expected?: ContentItem | null): Promise<void>;
  /** Deletes the item with its audit event, only when the stored item is still exactly `expected` (otherwise CONFLICT). */
  deleteContentItem(expected: ContentItem, event: AuditEvent): Promise<void>;
  getContentItem(id: string): Promise<ContentItem | null>;
  listContentItems(): Promise<ContentItem[]>;
}

/** Everything the service needs from its store. */
export interface Store extends SecurityStore, AuditStore, LoginStore, ScopedPasscodeStore, KeyStore, TaskSequenceStore, StepDefinitionStore, ContentItemStore, RunStore, AdminConsoleStore {
  /** Runs a consistency check of the underlying database. */
  integrityCheck(): Promise<string>;
  /**
   * Keeps `value` (see `keyCheckValue`) the first time; afterwards answers whether `value` is the one
   * kept. False means this process holds a different audit key from the nodes that wrote the database.
   */
  recordKeyCheck(value: string): Promise<boolean>;
  close(): Promise<void>;
}

/** A blob's identity in the content library: its SHA-256 (lower-case hex) and size in bytes. */
export interface BlobInfo {
  sha256: string;
  size: number;
}

/** Positioned reads of one stored blob (a file handle, say); close it when done. */
export interface BlobReader {
  /** Reads up to `length` bytes at `position` into the start of `buffer`; resolves with how many were read (0 past the end). */
  read(buffer: Buffer, length: number, position: number): Promise<number>;
  /** Releases the blob (waits for reads still running). */
  close(): Promise<void>;
}

/**
 * The content library's file store, addressed by SHA-256. Writers never leave a half-written blob
 * under its final name; readers may read any byte range.
 */
export interface ContentBlobStore {
  /** Copies a local file into the store, hashing it on the way; returns its hash and size. */
  putFile(sourcePath: string): Promise<BlobInfo>;
  /** Stores the bytes of a stream; returns their hash and size. */
  putStream(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<BlobInfo>;
  /** The blob's size, or null when the store does not hold it. */
  stat(sha256: string): Promise<{ size: number } | null>;
  /** True when the store holds the blob. */
  exists(sha256: string): Promise<boolean>;
  /** Opens the blob for positioned reads into the caller's buffers (a server reuses them: no garbage per chunk). */
  openReader(sha256: string): Promise<BlobReader>;
  /** Every stored blob with its size and when it was last written or re-added (ms since the epoch). */
  list(): Promise<{ sha256: string; size: number; modifiedAt: number }[]>;
  /** Removes a blob unless it was written or re-added at or after `unlessSince` (ms since the epoch); true when removed. */
  remove(sha256: string, unlessSince: number): Promise<boolean>;
  /** Removes temporary files of additions that never finished, older than `before` (ms since the epoch); returns how many bytes were freed. */
  removeAbandoned(before: number): Promise<{ files: number; bytes: number }>;
}

/** Filters for listing runs. */
export interface RunFilter {
  /** Only runs of this task sequence (a token limited to one sees only its runs). */
  taskSequenceId?: string;
  /** Only runs registered (or resumed) with this token id: a limited token's own runs. */
  ownerTokenId?: string;
  /** Newest first, at most this many (default 100). */
  limit?: number;
}

/** Runs of task sequences, their step results and their logs. */
export interface RunStore {
  /** Records a new run; `ownerTokenId` is the id of the token that registered it (kept, never shown). */
  createRun(run: RunRecord, ownerTokenId?: string | null): Promise<void>;
  /** One run, or null. */
  getRun(id: string): Promise<RunRecord | null>;
  /** The id of the token that registered (or last resumed) the run; null when none was kept or no such run. */
  getRunOwner(id: string): Promise<string | null>;
  /** Makes `ownerTokenId` the run's owner (a limited token resuming its run after a restart signs in again). */
  setRunOwner(id: string, ownerTokenId: string): Promise<void>;
  /** Runs, newest first. */
  listRuns(filter: RunFilter): Promise<RunRecord[]>;
  /** Changes some fields of a run (always `updatedAt`); null when there is no such run. */
  updateRun(id: string, patch: Partial<Omit<RunRecord, 'id'>>): Promise<RunRecord | null>;
  /** Adds or replaces the result of one step (by its key), keeping the order steps were first reported in. */
  putRunStep(runId: string, step: RunStepRecord): Promise<void>;
  /**
   * Optional: `putRunStep` then `updateRun` as one write (one transaction; a store that shares commits
   * answers once it is durable). Null, with nothing written, when there is no such run. Without it,
   * the use case makes the two calls.
   */
  reportRunStep?(runId: string, step: RunStepRecord, patch: Partial<Omit<RunRecord, 'id'>>): Promise<RunRecord | null>;
  /** A run's steps in the order they were first reported. */
  listRunSteps(runId: string): Promise<RunStepRecord[]>;
  /** Appends text to a run's log. */
  appendRunLog(runId: string, text: string): Promise<void>;
  /** The number of characters in the run's log so far. */
  runLogLength(runId: string): Promise<number>;
  /** The run's whole log. */
  getRunLog(runId: string): Promise<string>;
  /** Deletes the runs (with their steps and logs) whose last change was before `before` (ISO 8601); returns how many. */
  deleteRunsBefore(before: string): Promise<number>;
  /** Deletes one run with its steps and log, and appends `event`, in one transaction; returns the run, or null (nothing written) when there is none. */
  deleteRun(id: string, event: AuditEvent): Promise<RunRecord | null>;
}
