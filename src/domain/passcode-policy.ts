// Rules for a new passcode (NIST SP 800-63B): length, no truncation, a blocklist of common values.

import { DeployrError } from './errors.js';

/** Fewer characters than this are refused. */
export const PASSCODE_MIN_LENGTH = 8;
/** Fewer characters than this draw a warning (NIST's minimum for a single-factor secret). */
export const PASSCODE_RECOMMENDED_LENGTH = 15;
/** More characters than this are refused (bounds the hashing work; NIST asks for at least 64). */
export const PASSCODE_MAX_LENGTH = 256;

/** Common passcodes, compared whole and case-insensitively; the product's own names are on it. */
const BLOCKLIST = new Set([
  'deployr', 'deployr1', 'deployr123', 'deployr2024', 'deployr2025', 'deployr2026', '2pint', '2pintsoftware',
  'password', 'password1', 'password123', 'passw0rd', 'p@ssw0rd', 'p@ssword', 'passcode', 'passcode1',
  '12345678', '123456789', '1234567890', '87654321', '11111111', '00000000', '12341234', '11223344',
  'qwertyui', 'qwerty123', 'qwertyuiop', 'asdfghjk', 'zaq12wsx', '1q2w3e4r', '1qaz2wsx', 'iloveyou',
  'letmein!', 'letmein1', 'welcome1', 'welcome123', 'changeme', 'changeme1', 'administrator', 'admin123',
  'trustno1', 'sunshine', 'princess', 'football', 'baseball', 'superman', 'starwars', 'whatever',
  'abcd1234', 'abc12345', 'monkey123', 'dragon123', 'master123', 'computer', 'internet', 'secret123',
  'deployment', 'technician', 'windowspe', 'winpe123', 'bootstrap', 'tasksequence', 'contoso1',
]);

/** What a checked passcode looks like: its normalised form and warnings worth showing. */
export interface CheckedPasscode {
  /** NFKC-normalised passcode: what is hashed and compared. */
  normalized: string;
  warnings: string[];
}

/** Normalises a passcode for hashing or comparison (NFKC, as NIST SP 800-63B suggests); nothing is trimmed or truncated. */
export function normalizePasscode(passcode: string): string {
  return passcode.normalize('NFKC');
}

/** Number of characters as NIST counts them: Unicode code points. */
function codePointLength(s: string): number {
  return [...s].length;
}

/**
 * Checks a passcode an administrator wants to set. Throws PASSCODE_REJECTED with a one-line reason
 * that never contains the passcode; returns warnings (for example a length under 15).
 */
export function checkNewPasscode(passcode: string): CheckedPasscode {
  const normalized = normalizePasscode(passcode);
  const length = codePointLength(normalized);
  if (length === 0) throw new DeployrError('PASSCODE_REJECTED', 'The passcode is empty.');
  if (/[\u0000-\u001f\u007f]/.test(normalized)) {
    throw new DeployrError('PASSCODE_REJECTED', 'The passcode contains control characters.');
  }
  if (length < PASSCODE_MIN_LENGTH) {
    throw new DeployrError('PASSCODE_REJECTED', `The passcode is too short: use at least ${PASSCODE_MIN_LENGTH} characters (${PASSCODE_RECOMMENDED_LENGTH} or more recommended).`);
  }
  if (length > PASSCODE_MAX_LENGTH) {
    throw new DeployrError('PASSCODE_REJECTED', `The passcode is too long: use at most ${PASSCODE_MAX_LENGTH} characters.`);
  }
  if (BLOCKLIST.has(normalized.toLowerCase())) {
    throw new DeployrError('PASSCODE_REJECTED', 'The passcode is on the list of common passcodes; choose one that is harder to guess.');
  }
  if (new Set(normalized).size === 1) {
    throw new DeployrError('PASSCODE_REJECTED', 'The passcode repeats a single character; choose one that is harder to guess.');
  }
  const warnings: string[] = [];
  if (length < PASSCODE_RECOMMENDED_LENGTH) {
    warnings.push(`The passcode has fewer than ${PASSCODE_RECOMMENDED_LENGTH} characters; NIST SP 800-63B recommends ${PASSCODE_RECOMMENDED_LENGTH} or more for a secret used on its own.`);
  }
  return { normalized, warnings };
}
