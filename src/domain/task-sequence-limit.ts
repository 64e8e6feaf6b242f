// A token's task sequence limit: one or more `<id>[:<version>]` entries, written comma-separated in the token.

/** One task sequence a limited token may use, and the one version it may run (null: any Active version). */
export interface LimitEntry {
  /** Lower-case id. */
  id: string;
  version: number | null;
}

/** The entries of a limit such as `<guid>`, `<guid>:3` or `<guid>:3,<guid2>` (ids lower-cased; empty entries dropped). */
export function limitEntries(limit: string): LimitEntry[] {
  const entries: LimitEntry[] = [];
  for (const part of limit.split(',')) {
    const [id = '', version] = part.trim().split(':');
    const lower = id.trim().toLowerCase();
    if (lower === '') continue;
    const n = version === undefined ? NaN : Number(version);
    entries.push({ id: lower, version: Number.isSafeInteger(n) && n > 0 ? n : null });
  }
  return entries;
}

/** The lower-case ids a limit names. */
export function limitIds(limit: string): string[] {
  return limitEntries(limit).map((e) => e.id);
}

/** Writes entries back as a limit (`id[:version]`, comma-separated). */
export function formatLimit(entries: readonly LimitEntry[]): string {
  return entries.map((e) => (e.version === null ? e.id : `${e.id}:${e.version}`)).join(',');
}

/** True when there is no limit, or the limit names task sequence `id`. */
export function limitAllows(limit: string | null | undefined, id: string): boolean {
  if (!limit) return true;
  const lower = id.toLowerCase();
  return limitEntries(limit).some((e) => e.id === lower);
}

/**
 * The versions of task sequence `id` a limit lets its token run: null for any (or no limit), an
 * empty list when the limit does not name `id`.
 */
export function limitVersions(limit: string | null | undefined, id: string): number[] | null {
  if (!limit) return null;
  const lower = id.toLowerCase();
  const entries = limitEntries(limit).filter((e) => e.id === lower);
  if (entries.some((e) => e.version === null)) return null;
  return entries.map((e) => e.version as number);
}
