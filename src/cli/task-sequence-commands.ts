// `deployr ts import|export|list|show|activate`: manage task sequences in DeployR's export shape.

import { readFileSync, writeFileSync } from 'node:fs';
import { DeployrError } from '../domain/errors.js';
import { exportKind, type ExportKind } from '../domain/export-kind.js';
import { isDeployrBuiltInId, stepTypeInfo } from '../domain/step-types.js';
import { describeStepCounts, planText, stepCounts, stepPlan, type DefinitionFacts } from '../domain/step-support.js';
import { walkSteps } from '../domain/step-tree.js';
import { isActiveVersion, type TaskSequence } from '../domain/task-sequence.js';
import { exportTaskSequence } from '../domain/task-sequence-export.js';
import { parseTaskSequenceExport } from '../domain/task-sequence-parse.js';
import type { StepDefinitionCatalog } from '../engine/step-definition-catalog.js';
import type { TaskSequenceCatalog } from '../engine/task-sequence-catalog.js';
import { notValidJson } from '../domain/json-syntax.js';
import { plural, type CommandIo } from './output.js';

/** Reads and parses a JSON file, with one-line errors. */
export function readJsonFile(file: string): unknown {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (err) {
    throw new DeployrError('INVALID_INPUT', `Cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
  const body = text.replace(/^\uFEFF/, '');
  // Never the parser's message: it quotes the text (a passcode file given by mistake would be printed).
  try { return JSON.parse(body); } catch (err) {
    throw new DeployrError('INVALID_INPUT', `${file} is ${notValidJson(body, err)}.`);
  }
}

/** The command that imports each kind of export. */
const IMPORT_COMMAND: Readonly<Record<ExportKind, string>> = { 'task sequence': 'deployr ts import', 'step definition': 'deployr step import', 'content item': 'deployr content create' };

/**
 * Reads every file of a multi-file import and checks each is a `kind` export that `validate`
 * accepts, before anything is imported: an error names the file (and, for another kind of export,
 * what it is and the command that imports it), and nothing is imported.
 */
export function readImportFiles(files: readonly string[], kind: ExportKind, validate: (json: unknown) => unknown): { file: string; json: unknown }[] {
  const out: { file: string; json: unknown }[] = [];
  const nothing = files.length > 1 ? '; nothing was imported' : '';
  for (const file of files) {
    const json = readJsonFile(file);
    const actual = exportKind(json);
    if (actual !== null && actual !== kind) {
      throw new DeployrError('INVALID_INPUT', `${file} is a ${actual} export, not a ${kind} export; use ${IMPORT_COMMAND[actual]}${actual === 'content item' ? '' : ` ${file}`}${nothing}.`);
    }
    try {
      validate(json);
    } catch (err) {
      if (err instanceof DeployrError) throw new DeployrError(err.code, `${file}: ${err.message}${nothing}`, err.details);
      throw err;
    }
    out.push({ file, json });
  }
  return out;
}

/** `deployr ts import FILE...`: every file is checked before any is imported. */
export async function tsImport(files: string[], catalog: TaskSequenceCatalog, io: CommandIo): Promise<number> {
  for (const { json } of readImportFiles(files, 'task sequence', parseTaskSequenceExport)) {
    const ts = await catalog.importExport(json, { subject: 'admin', source: 'local' });
    io.out(`Imported "${ts.name}" (${ts.id}): ${ts.versions.map((v) => `v${v.versionNo} ${v.status}, ${describeStepCounts(stepCounts(v.steps))}`).join('; ')}`);
  }
  return 0;
}

/** `deployr ts list [--json]`. */
export async function tsList(catalog: TaskSequenceCatalog, io: CommandIo, json: boolean): Promise<number> {
  const list = await catalog.list(null);
  if (json) { io.out(JSON.stringify(list, null, 2)); return 0; }
  if (list.length === 0) { io.out('No task sequences. Import one with: deployr ts import FILE.json'); return 0; }
  for (const ts of list) io.out(`${ts.id}  ${ts.name}  [${ts.versions.map((v) => `v${v.versionNo} ${v.status}`).join(', ')}]`);
  return 0;
}

/** The custom step definitions a task sequence's steps name, as `stepSupport` needs them (null: not in the catalog). */
export async function definitionFacts(ts: TaskSequence, definitions: StepDefinitionCatalog): Promise<(id: string) => DefinitionFacts | null> {
  const known = new Map<string, DefinitionFacts | null>();
  for (const version of ts.versions) {
    for (const { step } of walkSteps(version.steps)) {
      const id = step.typeId?.toLowerCase();
      if (!id || step.isGroup || stepTypeInfo(id) || isDeployrBuiltInId(id) || known.has(id)) continue;
      const def = await definitions.get(id).catch(() => null);
      known.set(id, def === null ? null : { name: def.name, active: def.versions.some((v) => isActiveVersion(v)) });
    }
  }
  return (id) => known.get(id.toLowerCase()) ?? null;
}

/**
 * `deployr ts show ID [--json]`: each version's steps, numbered as a run counts them, with each
 * step's type and whether deployr's Linux client can run it (and why not).
 */
export async function tsShow(id: string, catalog: TaskSequenceCatalog, definitions: StepDefinitionCatalog, io: CommandIo, json: boolean): Promise<number> {
  const ts = await catalog.get(id, null);
  if (json) { io.out(JSON.stringify(ts, null, 2)); return 0; }
  const definition = await definitionFacts(ts, definitions);
  io.out(`${ts.name} (${ts.id})`);
  if (ts.description) io.out(`  ${ts.description}`);
  for (const v of ts.versions) {
    io.out(`  Version ${v.versionNo} (${v.status}): ${describeStepCounts(stepCounts(v.steps))}`);
    for (const line of planText(stepPlan(v.steps, { definition }), '    ')) io.out(line);
  }
  return 0;
}

/** `deployr ts export ID [--out FILE] [--pretty]`: DeployR's export JSON (one line, as DeployR writes it, unless --pretty). */
export async function tsExport(id: string, catalog: TaskSequenceCatalog, io: CommandIo, options: { out?: string; pretty?: boolean } = {}): Promise<number> {
  const ts = await catalog.get(id, null);
  const text = JSON.stringify(exportTaskSequence(ts), null, options.pretty ? 2 : undefined);
  if (!options.out) { io.out(text); return 0; }
  try { writeFileSync(options.out, text + '\n'); } catch (err) {
    throw new DeployrError('INVALID_INPUT', `Cannot write ${options.out} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
  io.err(`Exported "${ts.name}" (${ts.id}) to ${options.out}.`);
  return 0;
}

/** `deployr ts activate ID VERSION`: only an Active version runs. */
export async function tsActivate(id: string, version: string, catalog: TaskSequenceCatalog, io: CommandIo): Promise<number> {
  if (!/^[1-9][0-9]{0,8}$/.test(version)) throw new DeployrError('INVALID_INPUT', `"${version}" is not a version number (1, 2, …).`);
  const { ts, changed } = await catalog.activate(id, Number(version), { subject: 'admin', source: 'local' });
  io.out(changed ? `Version ${version} of "${ts.name}" (${ts.id}) is now Active.` : `Version ${version} of "${ts.name}" (${ts.id}) was already Active.`);
  return 0;
}

/** `deployr ts delete ID`: every version goes (past runs stay); refused while another task sequence runs it. */
export async function tsDelete(id: string, catalog: TaskSequenceCatalog, io: CommandIo): Promise<number> {
  const ts = await catalog.delete(id, { subject: 'admin', source: 'local' });
  io.out(`Deleted task sequence "${ts.name}" (${ts.id}) with its ${plural(ts.versions.length, 'version')}; its past runs stay.`);
  return 0;
}
