// `deployr keys list|rotate`: the token-signing keys (id, age, state; never key material), and replacing the one that signs.

import type { Kek } from '../auth/key-sealing.js';
import { listSigningKeyInfo, rotateKek, rotateSigningKey, type RotatableKekSource } from '../auth/signing-keys.js';
import { ROTATION_MARGIN_SECONDS } from '../domain/signing-key.js';
import type { KeyStore } from '../engine/ports.js';
import { formatDuration, parseDurationFlag, type CommandIo } from './output.js';

/** `deployr keys list [--json]`: every signing key with when it was made and its state. */
export async function keysList(store: KeyStore, io: CommandIo, json: boolean, now: Date = new Date()): Promise<number> {
  const keys = await listSigningKeyInfo(store, now);
  if (json) {
    io.out(JSON.stringify(keys, null, 2));
    return 0;
  }
  if (keys.length === 0) io.out('No signing key yet: the service makes one on its first start.');
  for (const k of keys) {
    const when = k.state === 'active' ? 'signs new tokens'
      : k.state === 'verify-only' ? `replaced ${k.supersededAt}; verifies tokens until ${k.verifyUntil}`
        : `replaced ${k.supersededAt}; retired ${k.verifyUntil}`;
    io.out(`${k.kid}  created ${k.createdAt}  ${k.state}  (${when})`);
  }
  return 0;
}

/**
 * `deployr keys rotate [--verify-for DURATION]`: a new key signs from now on; the old one's private
 * key is erased and it verifies tokens for the window (default: the token lifetime plus a margin),
 * then it is retired. Audited.
 */
export async function keysRotate(store: KeyStore, kek: Kek, io: CommandIo, flags: { verifyFor?: string }, tokenTtlSeconds: number): Promise<number> {
  const verifySeconds = flags.verifyFor === undefined ? tokenTtlSeconds + ROTATION_MARGIN_SECONDS : parseDurationFlag(flags.verifyFor, '--verify-for');
  const r = await rotateSigningKey(store, kek, { verifySeconds, subject: 'admin' });
  io.out(`Rotated the token-signing key: ${r.newKid} signs new tokens from now on (a running service picks it up within its settings poll, 1 s by default).`);
  io.out(verifySeconds === 0
    ? `${r.oldKid} is retired now: tokens it signed are refused from now on; everyone signs in again.`
    : `${r.oldKid} no longer signs; tokens it signed are accepted until ${r.verifyUntil} (${formatDuration(verifySeconds)}), then it is retired.`);
  return 0;
}

/** `deployr keys rotate-kek`: seals every stored signing key under a new key-encryption key, then replaces the KEK file. Audited. */
export async function keysRotateKek(store: KeyStore, source: RotatableKekSource, io: CommandIo): Promise<number> {
  const r = await rotateKek(store, source, 'admin');
  io.out(`Replaced the key-encryption key ${source.file} (${r.oldKek} → ${r.newKek}); ${r.keys} signing key${r.keys === 1 ? '' : 's'} sealed under the new one.`);
  io.out('Back up the new file now, apart from the database; database backups made before now open only with the old KEK.');
  return 0;
}
