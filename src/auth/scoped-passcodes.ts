// The scoped passcode use cases, shared by `deployr passcode` and /v1/admin/passcodes: add (typed or generated), list, show, revoke; audited by name.

import { randomInt, randomUUID } from 'node:crypto';
import type { AuditEvent } from '../domain/audit.js';
import { parseCidr } from '../domain/cidr.js';
import { DeployrError, isDeployrError } from '../domain/errors.js';
import { checkNewPasscode } from '../domain/passcode-policy.js';
import { formatReference, parseReference } from '../domain/reference.js';
import {
  canonicalGenerated, checkScopedPasscodeName, GENERATED_ALPHABET, generatedPublicId, MAX_ACTIVE_TYPED_SCOPED_PASSCODES,
  scopedPasscodeLive, viewScopedPasscode, type ScopedPasscodeView, type StoredScopedPasscode,
} from '../domain/scoped-passcode.js';
import type { AuthContext } from '../domain/security-settings.js';
import type { ScopedPasscodeStore, SecurityStore, TaskSequenceStore } from '../engine/ports.js';
import type { AdminActor } from './administrators.js';
import type { PasscodeHasher } from './passcode-hasher.js';

/** At most this many task sequences and source ranges per scoped passcode. */
const MAX_SCOPE_ENTRIES = 32;
/** The longest expiry: one year. */
const MAX_LIFETIME_SECONDS = 366 * 86400;
/** The most uses one scoped passcode may have. */
const MAX_USES = 1_000_000;

/** What a new scoped passcode is: exactly one of `passcode` (typed) or `generate`. */
export interface NewScopedPasscode {
  name: string;
  /** The passcode the administrator typed (twice, checked by the caller). */
  passcode?: string;
  /** Make a strong one, easy to read out; it is returned once. */
  generate?: boolean;
  /** `<guid>` or `<guid>:<version>` each. */
  taskSequences?: string[];
  /** CIDR ranges or single addresses. */
  sources?: string[];
  /** Expires this many seconds from now (not with `until`). */
  expiresInSeconds?: number;
  /** Expires at this time (ISO 8601; not with `expiresInSeconds`). */
  until?: string;
  /** How many logins it allows. */
  maxUses?: number;
  context?: AuthContext;
}

/** The result of adding one: its view, the generated passcode (only then, only here), and warnings. */
export interface AddedScopedPasscode {
  passcode: ScopedPasscodeView;
  /** The generated passcode: shown once, never stored in plain text, never logged. */
  generated?: string;
  warnings: string[];
}

/** Makes a generated passcode: 6 groups of 4 characters of a 32-symbol alphabet (the first is the public identifier; 100 secret bits follow). */
export function generatePasscode(): string {
  const groups: string[] = [];
  for (let g = 0; g < 6; g++) {
    let group = '';
    for (let i = 0; i < 4; i++) group += GENERATED_ALPHABET[randomInt(GENERATED_ALPHABET.length)];
    groups.push(group);
  }
  return groups.join('-');
}

/** Scoped passcodes: the one use case behind the CLI and the admin API. */
export class ScopedPasscodes {
  constructor(
    private readonly store: ScopedPasscodeStore & SecurityStore & Pick<TaskSequenceStore, 'getTaskSequence'>,
    private readonly hasher: PasscodeHasher,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Every scoped passcode, revoked ones included (never a hash or passcode). */
  async list(): Promise<ScopedPasscodeView[]> {
    const at = this.now().getTime();
    return (await this.store.listScopedPasscodes()).map((p) => viewScopedPasscode(p, at));
  }

  /** The scoped passcode named `name` (the unrevoked one, else the last revoked one); NOT_FOUND when none. */
  async show(name: string): Promise<ScopedPasscodeView> {
    checkScopedPasscodeName(name);
    const all = (await this.store.listScopedPasscodes()).filter((p) => p.name === name);
    const p = all.find((x) => x.revokedAt === null) ?? all.at(-1);
    if (!p) throw new DeployrError('NOT_FOUND', `No scoped passcode named ${name}.`);
    return viewScopedPasscode(p, this.now().getTime());
  }

  /**
   * Adds a scoped passcode, audited by name (never the passcode). Everything is checked before
   * anything is written: the name, the passcode rules (typed), the task sequences (they must exist),
   * the source ranges, the expiry, the uses. A typed one must differ from the global passcode and
   * from every other live typed one, and at most MAX_ACTIVE_TYPED_SCOPED_PASSCODES may be active.
   */
  async add(input: NewScopedPasscode, actor: AdminActor): Promise<AddedScopedPasscode> {
    const name = checkScopedPasscodeName(input.name);
    if ((input.passcode !== undefined) === (input.generate === true)) throw new DeployrError('INVALID_INPUT', 'Either type a passcode or generate one (--generate), not both or neither.');
    const taskSequences = await this.checkTaskSequences(input.taskSequences ?? []);
    const sources = this.checkSources(input.sources ?? []);
    const expiresAt = this.checkExpiry(input);
    if (input.maxUses !== undefined && (!Number.isSafeInteger(input.maxUses) || input.maxUses < 1 || input.maxUses > MAX_USES)) {
      throw new DeployrError('INVALID_INPUT', `The number of uses must be a whole number from 1 to ${MAX_USES}.`);
    }
    if (input.context !== undefined && input.context !== 'boot' && input.context !== 'fullos') throw new DeployrError('INVALID_INPUT', 'The context is boot or fullos.');
    const at = this.now();
    const existing = await this.store.listScopedPasscodes();
    if (existing.some((p) => p.name === name && p.revokedAt === null)) throw new DeployrError('CONFLICT', `There is already a scoped passcode named ${name} (revoke it first); nothing changed.`);

    const warnings: string[] = [];
    const base = {
      name, scope: { taskSequences, sources, context: input.context ?? null }, expiresAt, maxUses: input.maxUses ?? null, uses: 0,
      createdAt: at.toISOString(), createdBy: actor.subject, lastUsedAt: null, revokedAt: null,
    };
    const event = (p: StoredScopedPasscode): AuditEvent => ({
      kind: 'settings', method: 'scoped-passcode', result: 'created', reason: 'scoped_passcode_added', subject: actor.subject, source: actor.source, device: null,
      detail: { name, kind: p.publicId === null ? 'typed' : 'generated', taskSequences, sources, context: base.scope.context, expiresAt, maxUses: base.maxUses },
    });

    if (input.passcode !== undefined) {
      warnings.push(...checkNewPasscode(input.passcode).warnings);
      // Used-up ones count too (until revoked): the login checks every typed one that is not revoked or expired.
      const live = existing.filter((p) => scopedPasscodeLive(p, at.getTime()) && p.publicId === null);
      if (live.length >= MAX_ACTIVE_TYPED_SCOPED_PASSCODES) {
        throw new DeployrError('CONFLICT', `There are already ${MAX_ACTIVE_TYPED_SCOPED_PASSCODES} typed scoped passcodes that are neither revoked nor expired (the most a login checks); revoke one (a used-up one too), or use --generate (generated ones have no such limit). Nothing changed.`);
      }
      await this.refuseReuse(input.passcode, existing.filter((p) => p.publicId === null && p.revokedAt === null));
      const stored: StoredScopedPasscode = { ...base, id: randomUUID(), hash: await this.hasher.hash(input.passcode), publicId: null };
      await this.store.addScopedPasscode(stored, event(stored));
      return { passcode: viewScopedPasscode(stored, at.getTime()), warnings };
    }

    // A generated one: retry on the (rare) clash of its public identifier with a live one.
    for (let attempt = 0; ; attempt++) {
      const generated = generatePasscode();
      const canonical = canonicalGenerated(generated) as string;
      const stored: StoredScopedPasscode = { ...base, id: randomUUID(), hash: await this.hasher.hash(canonical), publicId: generatedPublicId(canonical) };
      try {
        await this.store.addScopedPasscode(stored, event(stored));
        return { passcode: viewScopedPasscode(stored, at.getTime()), generated, warnings };
      } catch (err) {
        if (attempt < 5 && isDeployrError(err, 'CONFLICT') && err.details['publicIdTaken'] === true) continue;
        throw err;
      }
    }
  }

  /** Revokes the scoped passcode named `name`: its tokens stop at once, on every node; audited. */
  async revoke(name: string, actor: AdminActor): Promise<ScopedPasscodeView> {
    checkScopedPasscodeName(name);
    const at = this.now();
    const revoked = await this.store.revokeScopedPasscode(name, at.toISOString(), {
      kind: 'settings', method: 'scoped-passcode', result: 'changed', reason: 'scoped_passcode_revoked', subject: actor.subject, source: actor.source, device: null, detail: { name },
    });
    return viewScopedPasscode(revoked, at.getTime());
  }

  /** A typed scoped passcode equal to the global passcode or to another live typed one would be ambiguous: refused. */
  private async refuseReuse(passcode: string, typed: readonly StoredScopedPasscode[]): Promise<void> {
    const { settings: s } = await this.store.getSecurity();
    const hashes = [s.passcode?.hash, s.previousPasscode?.hash, ...typed.map((p) => p.hash)].filter((h): h is string => typeof h === 'string');
    for (const hash of hashes) {
      if (await this.hasher.verify(hash, passcode)) throw new DeployrError('PASSCODE_REJECTED', 'This passcode is already in use (the global passcode or another scoped passcode); choose another.');
    }
  }

  /** Canonical `<guid>[:<version>]` of each task sequence; each must exist (and have that version). */
  private async checkTaskSequences(refs: readonly string[]): Promise<string[]> {
    if (refs.length > MAX_SCOPE_ENTRIES) throw new DeployrError('INVALID_INPUT', `At most ${MAX_SCOPE_ENTRIES} task sequences.`);
    const out: string[] = [];
    for (const text of refs) {
      const ref = parseReference(text);
      const ts = await this.store.getTaskSequence(ref.id);
      if (!ts) throw new DeployrError('NOT_FOUND', `No task sequence with id ${ref.id}.`);
      if (ref.version !== null && !ts.versions.some((v) => v.versionNo === ref.version)) throw new DeployrError('NOT_FOUND', `Task sequence ${ref.id} has no version ${ref.version}.`);
      const canonical = formatReference(ref);
      if (!out.includes(canonical)) out.push(canonical);
    }
    return out;
  }

  private checkSources(ranges: readonly string[]): string[] {
    if (ranges.length > MAX_SCOPE_ENTRIES) throw new DeployrError('INVALID_INPUT', `At most ${MAX_SCOPE_ENTRIES} source ranges.`);
    return [...new Set(ranges.map((r) => parseCidr(r).text))];
  }

  private checkExpiry(input: NewScopedPasscode): string | null {
    if (input.expiresInSeconds !== undefined && input.until !== undefined) throw new DeployrError('INVALID_INPUT', 'Give an expiry as a duration or as a time, not both.');
    const now = this.now().getTime();
    let at: number | null = null;
    if (input.expiresInSeconds !== undefined) {
      if (!Number.isSafeInteger(input.expiresInSeconds) || input.expiresInSeconds <= 0) throw new DeployrError('INVALID_INPUT', 'The expiry must be more than 0 seconds from now.');
      at = now + input.expiresInSeconds * 1000;
    } else if (input.until !== undefined) {
      at = Date.parse(input.until);
      if (!/^\d{4}-\d{2}-\d{2}/.test(input.until) || Number.isNaN(at)) throw new DeployrError('INVALID_INPUT', `"${input.until}" is not a time; use ISO 8601, for example 2026-12-24T18:00:00Z.`);
      if (at <= now) throw new DeployrError('INVALID_INPUT', 'That time has already passed.');
    }
    if (at !== null && at - now > MAX_LIFETIME_SECONDS * 1000) throw new DeployrError('INVALID_INPUT', 'A scoped passcode lasts at most 366 days.');
    return at === null ? null : new Date(at).toISOString();
  }
}
