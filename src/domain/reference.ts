// DeployR references: GUIDs and the `"<guid>:<versionNo>"` strings that point at a versioned entity.

import { DeployrError } from './errors.js';
import { describeForMessage } from './input-description.js';

/** A DeployR GUID in canonical form: 8-4-4-4-12 hex digits, any case (normalise with `normalizeGuid`). */
export const GUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Largest version number accepted (versions count up from 1, so this is never reached in practice). */
const MAX_VERSION = 2_147_483_647;

/**
 * A parsed reference to a versioned entity (task sequence, content item, step definition).
 * `version` is null for a bare GUID, which means "the latest Active version".
 */
export interface Reference {
  /** The entity's GUID, lowercase. */
  readonly id: string;
  /** The version number (1, 2, …), or null for "latest Active". */
  readonly version: number | null;
}

/** Options for `parseReference`. */
export interface ParseReferenceOptions {
  /** Refuse a bare GUID: the version part is mandatory (as in a step's `contentItems`). */
  readonly requireVersion?: boolean;
}

/** True when `s` is a GUID (8-4-4-4-12 hex digits, either case, no braces). */
export function isGuid(s: unknown): s is string {
  return typeof s === 'string' && GUID_PATTERN.test(s);
}

/** Returns the lowercase form of a GUID; throws INVALID_INPUT when `s` is not a GUID. */
export function normalizeGuid(s: string): string {
  if (!isGuid(s)) {
    throw new DeployrError('INVALID_INPUT', `invalid GUID (${describeForMessage(s)}): expected 8-4-4-4-12 hexadecimal digits`);
  }
  return s.toLowerCase();
}

/**
 * Parses `"<guid>:<versionNo>"` or a bare `"<guid>"` (latest Active version). Surrounding
 * whitespace is ignored and the GUID is lowercased. The version is a decimal integer ≥ 1 without
 * leading zeros. Throws DeployrError INVALID_INPUT with a one-line message on anything else.
 */
export function parseReference(s: unknown, options: ParseReferenceOptions = {}): Reference {
  const expected = options.requireVersion === true ? '"<guid>:<version>"' : '"<guid>" or "<guid>:<version>"';
  if (typeof s !== 'string') {
    throw new DeployrError('INVALID_INPUT', `invalid reference: expected a string of the form ${expected}`);
  }
  const text = s.trim();
  const colon = text.indexOf(':');
  const idPart = colon === -1 ? text : text.slice(0, colon);
  const versionPart = colon === -1 ? null : text.slice(colon + 1);
  if (!isGuid(idPart)) {
    throw new DeployrError('INVALID_INPUT', `invalid reference (${describeForMessage(s)}): ${colon === -1 ? 'it is not a GUID' : 'the part before ":" is not a GUID'}; expected ${expected}`);
  }
  if (versionPart === null) {
    if (options.requireVersion === true) {
      throw new DeployrError('INVALID_INPUT', `invalid reference: the version is missing, expected ${expected}`);
    }
    return { id: idPart.toLowerCase(), version: null };
  }
  if (!/^[1-9][0-9]*$/.test(versionPart) || Number(versionPart) > MAX_VERSION) {
    throw new DeployrError(
      'INVALID_INPUT',
      `invalid reference: the version must be a whole number from 1 to ${MAX_VERSION}`,
    );
  }
  return { id: idPart.toLowerCase(), version: Number(versionPart) };
}

/** True when `s` parses as a reference (see `parseReference`); never throws. */
export function isReference(s: unknown, options: ParseReferenceOptions = {}): boolean {
  try {
    parseReference(s, options);
    return true;
  } catch {
    return false;
  }
}

/**
 * Formats a reference as DeployR writes it: `"<guid>:<version>"`, or the bare GUID when the
 * version is null. The GUID is lowercased; throws INVALID_INPUT for a bad GUID or version.
 */
export function formatReference(ref: Reference): string {
  const id = normalizeGuid(ref.id);
  if (ref.version === null) return id;
  if (!Number.isInteger(ref.version) || ref.version < 1 || ref.version > MAX_VERSION) {
    throw new DeployrError('INVALID_INPUT', `invalid reference version ${String(ref.version)}: expected a whole number from 1 to ${MAX_VERSION}`);
  }
  return `${id}:${ref.version}`;
}

