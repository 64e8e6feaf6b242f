// Describes a submitted value for an error message without quoting it (it may be a secret typed into the wrong place, or hostile text).

import { plural } from './duration-text.js';

/**
 * "empty", "1 character" or "N characters": what a one-line error says of a value it refuses.
 * Errors never echo what was submitted (see docs/security.md, "Hostile input").
 */
export function describeForMessage(s: string): string {
  return s.length === 0 ? 'empty' : plural(s.length, 'character');
}
