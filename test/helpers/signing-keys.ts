// Test helper: the token-signing keys of an in-process store, sealed under a fixed test KEK (the service reads its KEK from a file in the home).

import { kekFromBytes, type Kek } from '../../src/auth/key-sealing.js';
import { prepareSigningKeys, signingKeySource, type SigningKeySource } from '../../src/auth/signing-keys.js';
import type { KeyStore } from '../../src/engine/ports.js';

/** The fixed KEK in-process tests seal their signing keys under. */
export const TEST_KEK: Kek = kekFromBytes(Buffer.alloc(32, 5), '(test KEK)');

/** Prepares the store's signing keys under TEST_KEK and returns the token service's source. */
export async function testSigningKeys(store: KeyStore): Promise<SigningKeySource> {
  const kek = await prepareSigningKeys(store, { file: TEST_KEK.file, read: () => TEST_KEK, create: () => TEST_KEK, readPending: () => null, settlePending: () => undefined });
  return signingKeySource(store, kek);
}
