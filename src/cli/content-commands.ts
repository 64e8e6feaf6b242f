// `deployr content create|add-version|activate|list|show`: content items, their versions and files.

import type { ContentCatalog } from '../engine/content-catalog.js';
import type { ContentLibrary } from '../engine/content-library.js';
import { DeployrError } from '../domain/errors.js';
import type { CommandIo } from './output.js';

/** Who the admin commands act as, for the audit trail. */
const LOCAL_ADMIN = { subject: 'admin', source: 'local' };

/** Bytes in a short human form (1.5 GiB). */
export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u === 0 ? `${n} bytes` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

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

/** `deployr content show ID [--json]`: the item, its versions and their files. */
export async function contentShow(id: string, catalog: ContentCatalog, io: CommandIo, json = false): Promise<number> {
  const item = await catalog.get(id);
  if (json) { io.out(JSON.stringify(item, null, 2)); return 0; }
  io.out(`${item.name}  (${item.id})`);
  io.out(`  Purpose: ${item.contentItemPurpose}   Type: ${item.type}${item.description ? `   Description: ${item.description}` : ''}`);
  if (item.versions.length === 0) {
    io.out(`  No versions yet. Add one with: deployr content add-version ${item.id} PATH`);
    return 0;
  }
  for (const v of item.versions) {
    const size = v.files.reduce((n, f) => n + f.size, 0);
    io.out(`  Version ${v.versionNo}  ${v.status}  ${v.files.length} file${v.files.length === 1 ? '' : 's'}, ${formatBytes(size)}  created ${new Date(v.createdDate * 1000).toISOString()}`);
    if (v.description) io.out(`    Description: ${v.description}`);
    if (v.installationCommandLine) io.out(`    Install command: ${v.installationCommandLine}`);
    if (v.driverManufacturer || v.driverModel) io.out(`    Driver pack for: ${[v.driverManufacturer, v.driverModel].filter(Boolean).join(' ')}`);
    for (const f of v.files) io.out(`    ${f.sha256}  ${String(f.size).padStart(12)}  ${f.path}`);
  }
  return 0;
}

/** `deployr content add-version ID PATH [--description] [--install-command] [--driver-manufacturer] [--driver-model]`. */
export async function contentAddVersion(
  id: string, path: string,
  flags: { description?: string; installCommand?: string; driverManufacturer?: string; driverModel?: string },
  library: ContentLibrary, io: CommandIo,
): Promise<number> {
  const version = await library.addVersion(id, path, {
    description: flags.description ?? null, installationCommandLine: flags.installCommand ?? null,
    driverManufacturer: flags.driverManufacturer ?? null, driverModel: flags.driverModel ?? null,
  }, LOCAL_ADMIN);
  const size = version.files.reduce((n, f) => n + f.size, 0);
  io.out(`Added version ${version.versionNo}: ${version.files.length} file${version.files.length === 1 ? '' : 's'}, ${formatBytes(size)}. It is inactive; activate it with: deployr content activate ${id.toLowerCase()} ${version.versionNo}`);
  return 0;
}

/** `deployr content activate ID VERSION`. */
export async function contentActivate(id: string, versionText: string, library: ContentLibrary, io: CommandIo): Promise<number> {
  if (!/^[1-9][0-9]{0,8}$/.test(versionText)) throw new DeployrError('INVALID_INPUT', `"${versionText}" is not a version number.`);
  const { version, changed } = await library.activate(id, Number(versionText), LOCAL_ADMIN);
  io.out(changed ? `Version ${version.versionNo} is now active.` : `Version ${version.versionNo} was already active.`);
  return 0;
}
