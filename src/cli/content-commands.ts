// `deployr content create|list|show`: content item metadata.

import type { ContentCatalog } from '../engine/content-catalog.js';
import type { CommandIo } from './output.js';

/** `deployr content create --name --purpose --type [--description]`. */
export async function contentCreate(input: { name: string; purpose: string; type: string; description?: string }, catalog: ContentCatalog, io: CommandIo): Promise<number> {
  const item = await catalog.create(input, { subject: 'admin', source: 'local' });
  io.out(`Created content item "${item.name}" (${item.id}), ${item.contentItemPurpose}, ${item.type}.`);
  return 0;
}

/** `deployr content list [--json]`. */
export async function contentList(catalog: ContentCatalog, io: CommandIo, json: boolean): Promise<number> {
  const list = await catalog.list();
  if (json) { io.out(JSON.stringify(list, null, 2)); return 0; }
  if (list.length === 0) { io.out('No content items. Create one with: deployr content create --name NAME --purpose Application --type Folder'); return 0; }
  for (const c of list) io.out(`${c.id}  ${c.name}  ${c.contentItemPurpose}/${c.type}  [${c.versions.map((v) => `v${v.versionNo} ${v.status}`).join(', ') || 'no versions'}]`);
  return 0;
}

/** `deployr content show ID`. */
export async function contentShow(id: string, catalog: ContentCatalog, io: CommandIo): Promise<number> {
  io.out(JSON.stringify(await catalog.get(id), null, 2));
  return 0;
}
