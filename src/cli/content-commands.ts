// `deployr content create|add-version|activate|deactivate|delete-version|delete|gc|list|show`: content items, their versions and files.

import type { ContentCatalog } from '../engine/content-catalog.js';
import type { ContentLibrary } from '../engine/content-library.js';
import type { ContentLifecycle } from '../engine/content-lifecycle.js';
import { DeployrError } from '../domain/errors.js';
import { parseDurationFlag, plural, type CommandIo } from './output.js';

/** Who the admin commands act as, for the audit trail. */
const LOCAL_ADMIN = { subject: 'admin', source: 'local' };

/** Bytes in a short human form (1.5 GiB). */
export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u === 0 ? plural(n, 'byte') : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
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
    if (v.format) io.out(`    Format: ${v.format}`);
    if (v.driverManufacturer || v.driverModel) io.out(`    Driver pack for: ${[v.driverManufacturer, v.driverModel].filter(Boolean).join(' ')}`);
    for (const f of v.files) io.out(`    ${f.sha256}  ${String(f.size).padStart(12)}  ${f.path}`);
  }
  return 0;
}

/** `deployr content add-version ID PATH [--description] [--install-command] [--driver-manufacturer] [--driver-model] [--format]`. */
export async function contentAddVersion(
  id: string, path: string,
  flags: { description?: string; installCommand?: string; driverManufacturer?: string; driverModel?: string; format?: string },
  library: ContentLibrary, io: CommandIo,
): Promise<number> {
  const version = await library.addVersion(id, path, {
    description: flags.description ?? null, installationCommandLine: flags.installCommand ?? null,
    driverManufacturer: flags.driverManufacturer ?? null, driverModel: flags.driverModel ?? null, format: flags.format ?? null,
  }, LOCAL_ADMIN);
  const size = version.files.reduce((n, f) => n + f.size, 0);
  io.out(`Added version ${version.versionNo}: ${version.files.length} file${version.files.length === 1 ? '' : 's'}, ${formatBytes(size)}${version.format ? `, format ${version.format}` : ''}. It is inactive; activate it with: deployr content activate ${id.toLowerCase()} ${version.versionNo}`);
  return 0;
}

/** A version number given on the command line. */
function versionNumber(text: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(text)) throw new DeployrError('INVALID_INPUT', `"${text}" is not a version number.`);
  return Number(text);
}

/** `deployr content activate ID VERSION`. */
export async function contentActivate(id: string, versionText: string, library: ContentLibrary, io: CommandIo): Promise<number> {
  const { version, changed } = await library.activate(id, versionNumber(versionText), LOCAL_ADMIN);
  io.out(changed ? `Version ${version.versionNo} is now active.` : `Version ${version.versionNo} was already active.`);
  return 0;
}

/** `deployr content deactivate ID VERSION [--force]`: refused while a task sequence or step definition uses the version, unless forced. */
export async function contentDeactivate(id: string, versionText: string, flags: { force?: boolean }, lifecycle: ContentLifecycle, io: CommandIo): Promise<number> {
  const { version, changed, uses } = await lifecycle.deactivate(id, versionNumber(versionText), LOCAL_ADMIN, { force: flags.force === true });
  if (!changed) { io.out(`Version ${version.versionNo} was not active.`); return 0; }
  io.out(`Version ${version.versionNo} is now inactive: clients refuse it${uses.length > 0 ? `, and ${uses.length} task sequence step${uses.length === 1 ? '' : 's'} or step definition option${uses.length === 1 ? '' : 's'} using it will fail` : ''}.`);
  for (const u of uses) io.err(`  still used by ${u.where}`);
  return 0;
}

/** `deployr content delete-version ID VERSION [--force]`: only an inactive version; its files go at the next `content gc`. */
export async function contentDeleteVersion(id: string, versionText: string, flags: { force?: boolean }, lifecycle: ContentLifecycle, io: CommandIo): Promise<number> {
  const versionNo = versionNumber(versionText);
  const { uses } = await lifecycle.deleteVersion(id, versionNo, LOCAL_ADMIN, { force: flags.force === true });
  io.out(`Deleted version ${versionNo} (its number is not given again). Its files are removed from the library by: deployr content gc`);
  for (const u of uses) io.err(`  it was still used by ${u.where}`);
  return 0;
}

/** `deployr content gc [--dry-run] [--grace DURATION]`: removes library files no version lists. */
export async function contentGc(flags: { dryRun?: boolean; grace?: string }, lifecycle: ContentLifecycle, io: CommandIo): Promise<number> {
  let graceMs: number | undefined;
  if (flags.grace !== undefined) {
    graceMs = parseDurationFlag(flags.grace, '--grace') * 1000;
  }
  const report = await lifecycle.collectGarbage(LOCAL_ADMIN, { dryRun: flags.dryRun === true, ...(graceMs !== undefined ? { graceMs } : {}) });
  const n = report.files.length;
  const what = `${n} file${n === 1 ? '' : 's'} that no content version lists (${formatBytes(report.bytes)})`;
  io.out(report.dryRun ? `Would remove ${what}.` : `Removed ${what}${report.abandoned.files > 0 ? `, and ${report.abandoned.files} unfinished addition${report.abandoned.files === 1 ? '' : 's'} (${formatBytes(report.abandoned.bytes)})` : ''}.`);
  if (report.dryRun) for (const f of report.files) io.out(`  ${f.sha256}  ${formatBytes(f.size)}`);
  if (report.recentKept > 0) io.out(`Kept ${report.recentKept} unlisted file${report.recentKept === 1 ? '' : 's'} written within the grace period (an addition may be under way).`);
  return 0;
}

/** `deployr content delete ID [--force]`: only when every version is inactive; its files go at the next `content gc`. */
export async function contentDelete(id: string, flags: { force?: boolean }, lifecycle: ContentLifecycle, io: CommandIo): Promise<number> {
  const { item, uses } = await lifecycle.deleteItem(id, LOCAL_ADMIN, { force: flags.force === true });
  io.out(`Deleted content item "${item.name}" (${item.id}) with ${item.versions.length} version${item.versions.length === 1 ? '' : 's'}. Its files are removed from the library by: deployr content gc`);
  for (const u of uses) io.err(`  it was still used by ${u.where}`);
  return 0;
}
