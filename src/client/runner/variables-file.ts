// The step's variables file: a JSON object of every variable (plus the step's settings) that a script may read and rewrite.

import { readFile, writeFile } from 'node:fs/promises';
import { isValidVariableName, type VariableStore } from '../../domain/variables.js';

/** The environment variable that names the file. */
export const VARIABLES_FILE_ENV = 'DEPLOYR_VARIABLES_FILE';

/**
 * Writes `{ NAME: "value", … }`: the run's variables, then the step's settings (a setting wins over
 * a variable of the same name). Returns what was written, to compare with afterwards.
 */
export async function writeVariablesFile(file: string, variables: VariableStore, settings: Readonly<Record<string, string>>): Promise<Map<string, string>> {
  const written = new Map<string, string>();
  for (const [name, value] of variables.entries()) written.set(name.toLowerCase(), value);
  const out: Record<string, string> = {};
  for (const [name, value] of variables.entries()) Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  for (const [name, value] of Object.entries(settings)) {
    if (!isValidVariableName(name)) continue;
    const existing = Object.keys(out).find((k) => k.toLowerCase() === name.toLowerCase());
    if (existing !== undefined) delete out[existing];
    Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
    written.set(name.toLowerCase(), value);
  }
  await writeFile(file, JSON.stringify(out, null, 2) + '\n', { mode: 0o600 });
  return written;
}

/**
 * Reads the file back after the step and sets every variable that is new or changed. A value may be
 * a string (numbers and booleans are turned into strings) or `{ "value": "…", "secret": true }` to
 * mark it secret. Returns the names set, and a one-line problem when the file is no longer a JSON object.
 */
export async function applyVariablesFile(file: string, written: ReadonlyMap<string, string>, variables: VariableStore): Promise<{ changed: string[]; problem: string | null }> {
  let text: string;
  try { text = await readFile(file, 'utf8'); } catch { return { changed: [], problem: null }; }
  let json: unknown;
  try { json = JSON.parse(text.replace(/^\uFEFF/, '')); } catch { return { changed: [], problem: 'the variables file is no longer valid JSON; no variables were taken from it' }; }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { changed: [], problem: 'the variables file is no longer a JSON object; no variables were taken from it' };
  const changed: string[] = [];
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (!isValidVariableName(name)) continue;
    let value: string;
    let secret = false;
    if (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean') value = String(raw);
    else if (typeof raw === 'object' && raw !== null && typeof (raw as { value?: unknown }).value === 'string') {
      value = (raw as { value: string }).value;
      secret = (raw as { secret?: unknown }).secret === true;
    } else continue;
    const before = written.get(name.toLowerCase());
    if (before === value && !secret) continue;
    variables.set(name, value, { secret });
    changed.push(name);
  }
  return { changed, problem: null };
}
