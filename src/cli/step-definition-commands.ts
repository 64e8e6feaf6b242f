// `deployr step import|export|list|show|activate`: manage custom step definitions in DeployR's export shape.

import { writeFileSync } from 'node:fs';
import { DeployrError } from '../domain/errors.js';
import { exportStepDefinition, parseStepDefinitionExport, type StepOption } from '../domain/step-definition.js';
import { stepDefinitionOverview, type StepDefinitionCatalog } from '../engine/step-definition-catalog.js';
import { plural, type CommandIo } from './output.js';
import { readImportFiles } from './task-sequence-commands.js';

const ACTOR = { subject: 'admin', source: 'local' };

/** `deployr step import FILE...`: every file is checked before any is imported. */
export async function stepImport(files: string[], catalog: StepDefinitionCatalog, io: CommandIo): Promise<number> {
  for (const { json } of readImportFiles(files, 'step definition', parseStepDefinitionExport)) {
    const def = await catalog.importExport(json, ACTOR);
    const o = stepDefinitionOverview(def);
    io.out(`Imported "${def.name}" (${def.id}): ${o.versions.map((v) => `v${v.versionNo} ${v.status}, ${plural(v.options, 'option')}`).join('; ') || 'no versions'}`);
  }
  return 0;
}

/** `deployr step list [--json]`. */
export async function stepList(catalog: StepDefinitionCatalog, io: CommandIo, json: boolean): Promise<number> {
  const list = await catalog.list();
  if (json) { io.out(JSON.stringify(list, null, 2)); return 0; }
  if (list.length === 0) { io.out('No step definitions. Import one with: deployr step import FILE.json'); return 0; }
  for (const d of list) io.out(`${d.id}  ${d.name}${d.typeName ? `  (${d.typeName})` : ''}  [${d.versions.map((v) => `v${v.versionNo} ${v.status}`).join(', ')}]`);
  return 0;
}

/** One line for an option: name, type, flags and default (a long or multi-line default is summarised). */
function optionLine(o: StepOption): string {
  const flags = [o.type, o.required ? 'required' : '', o.hidden ? 'hidden' : ''].filter(Boolean).join(', ');
  const value = o.defaultValue ?? '';
  const shown = value === '' ? '' : /[\r\n]/.test(value) || value.length > 80 ? ` = (${plural(value.split(/\r?\n/).length, 'line')}, ${plural(value.length, 'character')})` : ` = ${JSON.stringify(value)}`;
  const label = o.displayName && o.displayName !== o.name ? `  "${o.displayName}"` : '';
  return `${o.name} (${flags})${shown}${label}`;
}

/** `deployr step show ID [--json]`. */
export async function stepShow(id: string, catalog: StepDefinitionCatalog, io: CommandIo, json: boolean): Promise<number> {
  const def = await catalog.get(id);
  if (json) { io.out(JSON.stringify(exportStepDefinition(def), null, 2)); return 0; }
  io.out(`${def.name} (${def.id})${def.typeName ? `  [${def.typeName}]` : ''}`);
  if (def.description) for (const line of def.description.split(/\r?\n/)) io.out(`  ${line}`);
  for (const v of def.versions) {
    io.out(`  Version ${v.versionNo} (${v.status}), ${plural(v.options.length, 'option')}`);
    for (const o of v.options) {
      io.out(`    ${optionLine(o)}`);
      for (const r of o.validations ?? []) io.out(`      must match ${r.regexRule}${r.errorMessage ? `: ${r.errorMessage}` : ''}`);
      const choices = o.dropdownOptions ?? [];
      if (choices.length > 0) io.out(`      choices: ${choices.slice(0, 5).map((c) => c.value).join(', ')}${choices.length > 5 ? `, … (${choices.length} in all)` : ''}`);
    }
  }
  return 0;
}

/** `deployr step export ID [--out FILE] [--pretty]`: DeployR's export JSON (one line, as DeployR writes it, unless --pretty). */
export async function stepExport(id: string, catalog: StepDefinitionCatalog, io: CommandIo, options: { out?: string; pretty?: boolean } = {}): Promise<number> {
  const def = await catalog.get(id);
  const text = JSON.stringify(exportStepDefinition(def), null, options.pretty ? 2 : undefined);
  if (!options.out) { io.out(text); return 0; }
  try { writeFileSync(options.out, text + '\n'); } catch (err) {
    throw new DeployrError('INVALID_INPUT', `Cannot write ${options.out} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
  io.err(`Exported "${def.name}" (${def.id}) to ${options.out}.`);
  return 0;
}

/** `deployr step activate ID VERSION`: only an Active version runs. */
export async function stepActivate(id: string, version: string, catalog: StepDefinitionCatalog, io: CommandIo): Promise<number> {
  if (!/^[1-9][0-9]{0,8}$/.test(version)) throw new DeployrError('INVALID_INPUT', `"${version}" is not a version number (1, 2, …).`);
  const { def, changed } = await catalog.activate(id, Number(version), ACTOR);
  io.out(changed ? `Version ${version} of "${def.name}" (${def.id}) is now Active.` : `Version ${version} of "${def.name}" (${def.id}) was already Active.`);
  return 0;
}

/** `deployr step delete ID`: every version goes; refused while a task sequence uses it. */
export async function stepDelete(id: string, catalog: StepDefinitionCatalog, io: CommandIo): Promise<number> {
  const def = await catalog.delete(id, ACTOR);
  io.out(`Deleted step definition "${def.name}" (${def.id}).`);
  return 0;
}
