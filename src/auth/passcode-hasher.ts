// Hashes and checks passcodes with argon2id (PHC strings), with a bound on how many hashes run at once.

import argon2 from 'argon2';
import { DeployrError } from '../domain/errors.js';
import { FairTurns } from './fair-turns.js';
import { normalizePasscode, PASSCODE_MAX_LENGTH } from '../domain/passcode-policy.js';

/** argon2id parameters: OWASP's minimum is m=19 MiB, t=2, p=1. */
export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** OWASP's minimum for argon2id (Password Storage Cheat Sheet). */
export const OWASP_ARGON2_PARAMS: Argon2Params = Object.freeze({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });

/** Hashes passcodes and checks candidates against a stored hash. */
export interface PasscodeHasher {
  hash(passcode: string): Promise<string>;
  /**
   * True when `candidate` matches; false for any mismatch or malformed input. The one error is
   * AUTH_THROTTLED (retry after a second) when too many checks already wait for their turn.
   * `hold` runs after the hash while this check still holds its turn (the global slowdown: a pause
   * there means fewer checks per second for everyone while guessing is under way).
   */
  verify(hash: string, candidate: string, options?: VerifyOptions): Promise<boolean>;
  /** Spends the same work as `verify` without a real hash, so that every failure takes as long. */
  verifyDummy(candidate: string, options?: VerifyOptions): Promise<false>;
}

/** Options of a passcode check. */
export interface VerifyOptions {
  /** Awaited after the hash, before the turn is given up. */
  hold?: () => Promise<void>;
  /** Who asks (the client's address): turns go round-robin over sources (FairTurns). */
  lane?: string;
}

/**
 * An argon2id hasher; `maxConcurrent` (default 2) bounds the CPU and memory a flood of guesses can
 * take, and `maxWaiting` (default 64) how many checks may queue behind them, served round-robin
 * over the sources named by `VerifyOptions.lane`.
 */
export function createArgon2Hasher(options: { params?: Argon2Params; maxConcurrent?: number; maxWaiting?: number } = {}): PasscodeHasher {
  const params = options.params ?? OWASP_ARGON2_PARAMS;
  const gate = new FairTurns(options.maxConcurrent ?? 2, options.maxWaiting ?? 64);
  let dummyHash: Promise<string> | null = null;
  const hash = (passcode: string): Promise<string> => {
    const normalized = normalizePasscode(passcode);
    if (normalized.length > PASSCODE_MAX_LENGTH * 4) throw new DeployrError('PASSCODE_REJECTED', 'The passcode is too long.');
    return gate.run(() => argon2.hash(normalized, { type: argon2.argon2id, ...params }));
  };
  const verify = async (stored: string, candidate: string, opts: VerifyOptions = {}): Promise<boolean> => {
    const normalized = normalizePasscode(candidate);
    if (normalized.length === 0 || normalized.length > PASSCODE_MAX_LENGTH * 4) return false;
    return gate.run(async () => {
      let ok = false;
      try { ok = await argon2.verify(stored, normalized); } catch { ok = false; }
      if (opts.hold) await opts.hold();
      return ok;
    }, opts.lane);
  };
  return {
    hash,
    verify,
    async verifyDummy(candidate: string, opts: VerifyOptions = {}): Promise<false> {
      // Made once, outside the gate, so that a refused turn cannot leave a failed promise behind.
      dummyHash ??= argon2.hash('deployr-timing-equaliser-not-a-passcode', { type: argon2.argon2id, ...params });
      await verify(await dummyHash, candidate, opts);
      return false;
    },
  };
}
