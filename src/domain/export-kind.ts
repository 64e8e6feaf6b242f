// What a DeployR export file is, from its shape: a task sequence, a custom step definition or a content item.

/** The kinds of DeployR export deployr imports, as named in messages. */
export type ExportKind = 'task sequence' | 'step definition' | 'content item';

/**
 * Guesses what a parsed JSON export is from its shape (before it is validated): a task sequence
 * export's versions have `steps`; a step definition export's have `options` (or it has `typeName`);
 * a content item has `contentItemPurpose`. Null when it looks like none of them.
 */
export function exportKind(json: unknown): ExportKind | null {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return null;
  const obj = json as Record<string, unknown>;
  const versions = Array.isArray(obj['versions']) ? (obj['versions'] as unknown[]) : [];
  const has = (key: string): boolean => versions.some((v) => typeof v === 'object' && v !== null && Object.hasOwn(v, key));
  if (has('steps') || Object.hasOwn(obj, 'architecture')) return 'task sequence';
  if (has('options') || Object.hasOwn(obj, 'typeName')) return 'step definition';
  if (Object.hasOwn(obj, 'contentItemPurpose')) return 'content item';
  return null;
}
