// Keeps the home owner-only: the home folder 0700 and nothing under it open to group or others, tightened at start with a warning.

import { chmodSync, lstatSync, readdirSync, statSync, type Stats } from 'node:fs';
import { join, relative } from 'node:path';

/** The owner-only mode for what deployr itself writes: 0600 for files, 0700 for folders. */
export const OWNER_ONLY = { file: 0o600, dir: 0o700 } as const;

/** What was found open to other users, and changed (or could not be). */
export interface Tightened {
  /** `path (0755 → 0700)`, relative to the home (the home itself by its full path). */
  changed: string[];
  /** `path: EPERM`, for entries that could not be changed (owned by another user, say). */
  failed: string[];
}

function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

/**
 * Takes group and other permissions away from the home and what is under it (symbolic links are
 * left alone and not followed). The home itself becomes exactly 0700. Files keep their owner bits
 * (a server-side script in content/Scripts stays executable), so deployr's own files, written
 * 0600, stay 0600. With `deep` false only the home and its folders other than `content/` are
 * walked (the cheap check every command makes; `serve` walks the content library too).
 */
export function tightenHome(home: string, deep: boolean): Tightened {
  const result: Tightened = { changed: [], failed: [] };
  const name = (path: string): string => (path === home ? home : relative(home, path));
  const fix = (path: string, st: Stats, wanted: number): void => {
    const current = st.mode & 0o777;
    if (current === wanted) return;
    try {
      chmodSync(path, wanted);
      result.changed.push(`${name(path)} (${octal(current)} → ${octal(wanted)})`);
    } catch (err) {
      result.failed.push(`${name(path)}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  };
  const walk = (dir: string): void => {
    let entries: string[];
    try { entries = readdirSync(dir); } catch { return; }
    for (const entry of entries) {
      const path = join(dir, entry);
      let st: Stats;
      try { st = lstatSync(path); } catch { continue; }
      if (st.isSymbolicLink()) continue;
      if (st.isDirectory()) {
        fix(path, st, (st.mode & 0o700) | 0o700);
        if (deep || !(dir === home && entry === 'content')) walk(path);
      } else if (st.isFile()) {
        fix(path, st, st.mode & 0o700);
      }
    }
  };
  let st: Stats;
  try { st = statSync(home); } catch { return result; }
  if (!st.isDirectory()) return result;
  fix(home, st, OWNER_ONLY.dir);
  walk(home);
  return result;
}

/** The one warning line for what `tightenHome` found, or null when everything was owner-only already. */
export function tightenedWarning(home: string, t: Tightened): string | null {
  if (t.changed.length === 0 && t.failed.length === 0) return null;
  const list = (items: string[]): string => items.slice(0, 5).join(', ') + (items.length > 5 ? `, and ${items.length - 5} more` : '');
  const parts: string[] = [];
  if (t.changed.length > 0) parts.push(`tightened to owner-only: ${list(t.changed)}`);
  if (t.failed.length > 0) parts.push(`could NOT tighten (fix by hand): ${list(t.failed)}`);
  return `WARNING: other users could read or change files under the home ${home}; ${parts.join('; ')}.`;
}
