// Test helper: the real DeployR export files, and the assertion that an import names the bad field's path.

import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeployrError } from '../../src/domain/errors.js';
import { EXPORTS_DIR } from './deployr-process.js';

/** The export files whose names match `pattern`. */
export function exportFiles(pattern: RegExp): string[] {
  return readdirSync(EXPORTS_DIR).filter((f) => pattern.test(f));
}

/** An export's text, exactly as stored. */
export function exportText(file: string): string {
  return readFileSync(join(EXPORTS_DIR, file), 'utf8');
}

/** A fresh, mutable copy of a real export. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function loadExport(file: string): any {
  return JSON.parse(exportText(file));
}

/**
 * Asserts that `parse(json)` fails with INVALID_INPUT naming exactly `path` (in `details.path` and
 * at the start of the one-line message; `rootLabel` stands for the empty path) and a message matching `message`.
 */
export function assertInvalidAt(parse: (json: unknown) => unknown, json: unknown, path: string, message: RegExp, rootLabel: string): void {
  assert.throws(
    () => parse(json),
    (err: unknown) => {
      assert.ok(isDeployrError(err, 'INVALID_INPUT'), `expected a DeployrError INVALID_INPUT, got ${String(err)}`);
      assert.equal(err.details['path'], path);
      const label = path === '' ? rootLabel : path;
      assert.ok(err.message.startsWith(`${label}: `), `message ${JSON.stringify(err.message)} should start with ${label}`);
      assert.match(err.message, message);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    },
  );
}
