// Seals token-signing private keys at rest: AES-256-GCM under a key-encryption key (KEK) kept outside the database.

import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { DeployrError } from '../domain/errors.js';

/** A key-encryption key: 32 random bytes from a file in the home, never stored in the database. */
export interface Kek {
  /** Where it was read from (named in errors). */
  file: string;
  /** A short public name for it (an HMAC of the key, not the key): which KEK sealed a key. */
  id: string;
  /** The AES-256-GCM key derived from it. */
  aesKey: Buffer;
}

/** What a sealed private key looks like in the store (JSON). */
interface Envelope {
  sealed: 'A256GCM';
  kek: string;
  iv: string;
  ct: string;
  tag: string;
}

/** Makes a Kek from the 32 bytes of a KEK file. */
export function kekFromBytes(bytes: Buffer, file: string): Kek {
  if (bytes.length !== 32) throw new DeployrError('INTEGRITY', `${file} is damaged (expected 64 hex digits).`);
  return {
    file,
    id: createHmac('sha256', bytes).update('deployr signing-key KEK id').digest('hex').slice(0, 16),
    aesKey: Buffer.from(hkdfSync('sha256', bytes, Buffer.alloc(0), 'deployr signing-key seal v1', 32)),
  };
}

/** The additional authenticated data: a sealed key only opens as the key it was sealed for. */
function aad(kid: string): Buffer {
  return Buffer.from(`deployr signing key ${kid}`, 'utf8');
}

/** Seals a private JWK for the key `kid`. */
export function sealPrivateKey(kek: Kek, kid: string, privateJwk: Record<string, unknown>): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek.aesKey, iv);
  cipher.setAAD(aad(kid));
  const ct = Buffer.concat([cipher.update(JSON.stringify(privateJwk), 'utf8'), cipher.final()]);
  const envelope: Envelope = { sealed: 'A256GCM', kek: kek.id, iv: iv.toString('base64url'), ct: ct.toString('base64url'), tag: cipher.getAuthTag().toString('base64url') };
  return JSON.stringify(envelope);
}

/** What a stored private-key column holds. */
export type StoredPrivateKeyKind = 'sealed' | 'plain' | 'erased';

/** Tells a sealed key from a plain JWK (written before sealing) and an erased one. */
export function storedPrivateKeyKind(stored: string): StoredPrivateKeyKind {
  if (stored === '') return 'erased';
  try {
    const parsed = JSON.parse(stored) as Partial<Envelope> & { kty?: unknown };
    if (parsed.sealed === 'A256GCM') return 'sealed';
    if (typeof parsed.kty === 'string') return 'plain';
  } catch { /* neither */ }
  throw new DeployrError('INTEGRITY', 'A stored signing key is damaged (neither sealed nor a key).');
}

/** The id of the KEK a sealed key was sealed under. */
export function sealedKekId(stored: string): string {
  return (JSON.parse(stored) as Envelope).kek;
}

/** Opens a sealed private key; INTEGRITY when it was sealed under another KEK or was changed. */
export function unsealPrivateKey(kek: Kek, kid: string, stored: string): Record<string, unknown> {
  const envelope = JSON.parse(stored) as Envelope;
  if (envelope.kek !== kek.id) {
    throw new DeployrError('INTEGRITY', `The signing key ${kid} was encrypted under another key-encryption key than ${kek.file} (${envelope.kek}, the file holds ${kek.id}); restore the right file (see docs/security.md).`);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek.aesKey, Buffer.from(envelope.iv, 'base64url'));
    decipher.setAAD(aad(kid));
    decipher.setAuthTag(Buffer.from(envelope.tag, 'base64url'));
    const plain = Buffer.concat([decipher.update(Buffer.from(envelope.ct, 'base64url')), decipher.final()]);
    return JSON.parse(plain.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new DeployrError('INTEGRITY', `The signing key ${kid} does not open with ${kek.file}: it was changed in the database.`);
  }
}
