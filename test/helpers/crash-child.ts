// Test helper process for the crash test: loops audited logins, wrong guesses and passcode changes on a real SQLite file until it is killed.

import { writeSync } from 'node:fs';
import { LoginService } from '../../src/auth/login-service.js';
import { createArgon2Hasher } from '../../src/auth/passcode-hasher.js';
import { SecurityAdmin } from '../../src/auth/security-admin.js';
import { SecurityState } from '../../src/auth/security-state.js';
import { createTokenService } from '../../src/auth/token-service.js';
import { testSigningKeys } from './signing-keys.js';
import { DEFAULT_THROTTLE_POLICY } from '../../src/domain/throttle.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';

/** The passcode of generation index `n` in the crash test. */
export function crashPasscode(n: number): string {
  return `Crash-Passcode-${n}-Osprey`;
}

/** The source every wrong guess comes from (never throttled here, so every guess is counted). */
export const ATTACKER = { address: '10.9.9.9', deviceId: null };

/** Writes one line at once (the parent must see it even if the next instant is a SIGKILL). */
function say(line: string): void {
  writeSync(1, line + '\n');
}

async function main(file: string, keyHex: string, start: number, run: number): Promise<void> {
  const store = openSqliteStore(file, Buffer.from(keyHex, 'hex'));
  const hasher = createArgon2Hasher({ params: { memoryCost: 1024, timeCost: 1, parallelism: 1 } });
  const security = await SecurityState.load(store);
  const tokens = await createTokenService(await testSigningKeys(store), { ttlSeconds: 3600 });
  const policy = { ...DEFAULT_THROTTLE_POLICY, freeFailures: 1e9, addressFreeFailures: 1e9, globalSlowdownMs: 0 };
  const login = new LoginService({ store, security, hasher, tokens, digestKey: Buffer.alloc(32, 3), policy });
  const admin = new SecurityAdmin(store, hasher);
  let current = start;
  say('READY');
  for (let i = 0; ; i++) {
    const issued = await login.loginWithPasscode({ passcode: crashPasscode(current), context: 'boot', taskSequence: null, source: { address: `10.${run % 250}.${i % 250}.1`, deviceId: `pc-${i}` } });
    const claims = JSON.parse(Buffer.from(issued.token.split('.')[1] as string, 'base64url').toString('utf8')) as { jti: string };
    say(`OK ${claims.jti}`);
    await login.loginWithPasscode({ passcode: `wrong-${run}-${i}`, context: 'boot', taskSequence: null, source: ATTACKER }).catch(() => undefined);
    if (i % 3 === 2) {
      say(`CHANGING ${current + 1}`);
      await admin.apply([{ kind: 'rotation', overlapSeconds: (current + 1) % 2 ? 3600 : 0 }, { kind: 'passcode', passcode: crashPasscode(current + 1) }]);
      current += 1;
      say(`CHANGED ${current}`);
    }
  }
}

const [file, keyHex, start, run] = process.argv.slice(2);
// Imported by the test runner's file discovery or by the test itself: do nothing without arguments.
if (file && keyHex && start && run) await main(file, keyHex, Number(start), Number(run));
