// The token-signing keys as use cases: sealing them at first start, loading them for the token service, rotating and listing them.

import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import type { AuditEvent } from '../domain/audit.js';
import { DeployrError } from '../domain/errors.js';
import { signingKeyState, type SigningKeyState } from '../domain/signing-key.js';
import type { KeyStore, NewSigningKey } from '../engine/ports.js';
import { sealedKekId, sealPrivateKey, storedPrivateKeyKind, unsealPrivateKey, type Kek } from './key-sealing.js';

/** Where the key-encryption key comes from (a file in the home, in the service). */
export interface KekSource {
  /** The file's path (named in errors). */
  file: string;
  /** The KEK, or null when the file does not exist. */
  read(): Kek | null;
  /** Makes the file (owner-only) with a new random KEK and returns it. */
  create(): Kek;
  /** The next KEK written by `deployr keys rotate-kek` before it changed the database, or null. */
  readPending(): Kek | null;
  /** Makes the pending KEK the KEK (the rotation committed), or drops it (it did not). */
  settlePending(committed: boolean): void;
}

/** What the token service signs and verifies with. */
export interface SigningKeySnapshot {
  /** The key that signs, opened; null when it cannot be (no key). */
  active: { kid: string; privateJwk: Record<string, unknown> } | null;
  /** Every key that may verify: the active one and the replaced ones (with until when). Retired keys are left out. */
  verifiers: { kid: string; publicJwk: Record<string, unknown>; verifyUntil: string | null }[];
  /** Why the active key could not be opened (the KEK file is another one), when it could not. */
  problem?: string;
}

/** Reads the current keys for the token service. */
export interface SigningKeySource {
  snapshot(): Promise<SigningKeySnapshot>;
}

/** A new Ed25519 key pair, its private key sealed. */
async function newKey(kek: Kek): Promise<NewSigningKey> {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const kid = randomUUID();
  return { kid, sealedPrivateKey: sealPrivateKey(kek, kid, { ...(await exportJWK(pair.privateKey)) }), publicJwk: { ...(await exportJWK(pair.publicKey)) } };
}

/** The one-line refusal when the database holds sealed keys but the KEK file is gone. */
export function kekMissingError(file: string): DeployrError {
  return new DeployrError('INTEGRITY', `${file} is missing, but the database holds signing keys encrypted under it: restore it from your backup (docs/security.md, "Backing up and restoring"); no key was made or changed.`);
}

/**
 * Makes the signing keys ready at start: reads (or, when the database holds no sealed key, makes)
 * the KEK; seals keys stored in plain text by an earlier version, in place, in one transaction
 * with its audit row; makes the first key when there is none. Refuses (never makes new keys, which
 * would sign everybody out) when sealed keys exist and the KEK file is missing or another one.
 */
export async function prepareSigningKeys(store: KeyStore, source: KekSource): Promise<Kek> {
  let keys = await store.listSigningKeys();
  let kek = source.read();
  const sealed = keys.filter((k) => storedPrivateKeyKind(k.sealedPrivateKey) === 'sealed');
  // A KEK rotation that stopped between the database and the file: the keys tell which KEK won.
  const pending = source.readPending();
  if (pending) {
    const committed = sealed.length > 0 && sealed.every((k) => sealedKekId(k.sealedPrivateKey) === pending.id) && pending.id !== kek?.id;
    source.settlePending(committed);
    if (committed) kek = source.read();
  }
  if (!kek) {
    if (sealed.length > 0) throw kekMissingError(source.file);
    kek = source.create();
  }
  for (const k of sealed) if (sealedKekId(k.sealedPrivateKey) !== kek.id) unsealPrivateKey(kek, k.kid, k.sealedPrivateKey);
  const plain = keys.filter((k) => storedPrivateKeyKind(k.sealedPrivateKey) === 'plain');
  if (plain.length > 0) {
    const updates = plain.map((k) => ({ kid: k.kid, expected: k.sealedPrivateKey, sealed: sealPrivateKey(kek, k.kid, JSON.parse(k.sealedPrivateKey) as Record<string, unknown>) }));
    try {
      await store.resealSigningKeys(updates, keysEvent('sealed', 'sealed_at_rest', 'service', { kids: plain.map((k) => k.kid), kek: kek.id }));
    } catch (err) {
      // Another process sealed them first (two starts at once): what it wrote is checked below.
      if (!(err instanceof DeployrError && err.code === 'CONFLICT')) throw err;
    }
    keys = await store.listSigningKeys();
  }
  if (keys.length === 0) {
    await store.addFirstSigningKey(await newKey(kek));
    keys = await store.listSigningKeys();
  }
  const active = keys.find((k) => k.supersededAt === null);
  if (active) unsealPrivateKey(kek, active.kid, active.sealedPrivateKey);
  return kek;
}

/** An audit event of kind `keys`. */
function keysEvent(result: string, reason: string, subject: string, detail: Record<string, unknown>): AuditEvent {
  return { kind: 'keys', method: 'signing-key', result, reason, subject, source: null, device: null, detail };
}

/**
 * The token service's view of the stored keys, opening the active key with the KEK (opened keys are
 * remembered by kid). A key sealed under another KEK than the one in hand (after `keys rotate-kek`
 * by another process) makes it read the KEK file again. Verifying never needs the KEK; when the
 * active key cannot be opened, `active` is null (no token is issued) and `problem` says why.
 */
export function signingKeySource(store: KeyStore, initial: Kek, source?: KekSource, now: () => Date = () => new Date()): SigningKeySource {
  const opened = new Map<string, Record<string, unknown>>();
  let kek = initial;
  const open = (kid: string, sealed: string): Record<string, unknown> => {
    if (source && storedPrivateKeyKind(sealed) === 'sealed' && sealedKekId(sealed) !== kek.id) kek = source.read() ?? kek;
    return unsealPrivateKey(kek, kid, sealed);
  };
  return {
    async snapshot() {
      const keys = await store.listSigningKeys();
      const at = now();
      const activeRow = keys.filter((k) => k.supersededAt === null).at(-1);
      let active: SigningKeySnapshot['active'] = null;
      let problem: string | undefined;
      if (activeRow) {
        let jwk = opened.get(activeRow.kid);
        if (!jwk) {
          try {
            jwk = open(activeRow.kid, activeRow.sealedPrivateKey);
            opened.clear();
            opened.set(activeRow.kid, jwk);
          } catch (err) {
            problem = (err as Error).message;
          }
        }
        if (jwk) active = { kid: activeRow.kid, privateJwk: jwk };
      }
      const verifiers = keys.filter((k) => signingKeyState(k, at) !== 'retired').map((k) => ({ kid: k.kid, publicJwk: k.publicJwk, verifyUntil: k.verifyUntil }));
      return { active, verifiers, ...(problem ? { problem } : {}) };
    },
  };
}

/** One key as `deployr keys list` shows it (never key material). */
export interface SigningKeyInfo {
  kid: string;
  createdAt: string;
  state: SigningKeyState;
  supersededAt: string | null;
  verifyUntil: string | null;
}

/** Every signing key with its state at `now`, oldest first. */
export async function listSigningKeyInfo(store: KeyStore, now: Date = new Date()): Promise<SigningKeyInfo[]> {
  return (await store.listSigningKeys()).map((k) => ({ kid: k.kid, createdAt: k.createdAt, state: signingKeyState(k, now), supersededAt: k.supersededAt, verifyUntil: k.verifyUntil }));
}

/**
 * Replaces the key that signs with a new one (sealed under `kek`). The old key's private key is
 * erased at once; it keeps verifying tokens for `verifySeconds`, then it is retired. Audited in
 * the same transaction.
 */
export async function rotateSigningKey(store: KeyStore, kek: Kek, input: { verifySeconds: number; subject: string; now?: Date }): Promise<{ oldKid: string; newKid: string; verifyUntil: string }> {
  const keys = await store.listSigningKeys();
  const active = keys.filter((k) => k.supersededAt === null).at(-1);
  if (!active) throw new DeployrError('NOT_FOUND', 'There is no signing key yet: start the service once (deployr serve) to make one.');
  // Refuse before changing anything when the KEK in hand is not the one the keys are sealed under.
  unsealPrivateKey(kek, active.kid, active.sealedPrivateKey);
  const next = await newKey(kek);
  const verifyUntil = new Date((input.now ?? new Date()).getTime() + input.verifySeconds * 1000).toISOString();
  await store.rotateSigningKey({
    expectedActiveKid: active.kid, next, verifyUntil,
    event: keysEvent('rotated', 'signing_key_rotated', input.subject, { oldKid: active.kid, newKid: next.kid, oldVerifiesUntil: verifyUntil }),
  });
  return { oldKid: active.kid, newKid: next.kid, verifyUntil };
}

/** Seals every stored private key under `next` instead of `current`, in one transaction (audited). */
export async function resealUnderNewKek(store: KeyStore, current: Kek, next: Kek, subject: string): Promise<number> {
  const keys = (await store.listSigningKeys()).filter((k) => storedPrivateKeyKind(k.sealedPrivateKey) === 'sealed');
  const updates = keys.map((k) => ({ kid: k.kid, expected: k.sealedPrivateKey, sealed: sealPrivateKey(next, k.kid, unsealPrivateKey(current, k.kid, k.sealedPrivateKey)) }));
  await store.resealSigningKeys(updates, keysEvent('rotated', 'kek_rotated', subject, { kids: keys.map((k) => k.kid), oldKek: current.id, newKek: next.id }));
  return updates.length;
}

/** A KEK source that can also write the next KEK beside the current one (for `deployr keys rotate-kek`). */
export interface RotatableKekSource extends KekSource {
  /** Writes a new random KEK as the pending one (owner-only, synced) and returns it. */
  writePending(): Kek;
}

/**
 * Replaces the KEK: writes the next one beside the current file, seals every stored private key
 * under it in one transaction (audited), then puts it in the current file's place. A crash in
 * between is settled at the next start by `prepareSigningKeys` (the keys say which KEK won).
 */
export async function rotateKek(store: KeyStore, source: RotatableKekSource, subject: string): Promise<{ keys: number; oldKek: string; newKek: string }> {
  const current = source.read();
  if (!current) {
    const sealed = (await store.listSigningKeys()).some((k) => storedPrivateKeyKind(k.sealedPrivateKey) === 'sealed');
    throw sealed ? kekMissingError(source.file) : new DeployrError('NOT_FOUND', `There is no ${source.file} yet: start the service once (deployr serve) to make it.`);
  }
  const next = source.writePending();
  let keys: number;
  try {
    keys = await resealUnderNewKek(store, current, next, subject);
  } catch (err) {
    source.settlePending(false);
    throw err;
  }
  source.settlePending(true);
  return { keys, oldKek: current.id, newKek: next.id };
}
