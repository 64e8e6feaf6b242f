// Use cases for custom step definitions: import DeployR exports, list and read them, activate a version, and pick the version a step runs.

import type { AuditEvent } from '../domain/audit.js';
import { DeployrError } from '../domain/errors.js';
import { parseStepDefinitionExport, stepDefinitionVersion, type StepDefinition, type StepDefinitionVersion } from '../domain/step-definition.js';
import { activateVersion, isActiveVersion, type Step } from '../domain/task-sequence.js';
import { walkSteps } from '../domain/step-tree.js';
import { stepKind } from '../domain/step-types.js';
import type { StepDefinitionStore, TaskSequenceStore } from './ports.js';

/** One step definition in a listing. */
export interface StepDefinitionOverview {
  id: string;
  name: string;
  description: string | null;
  typeName: string | null;
  versions: { versionNo: number; status: string; options: number }[];
}

/** Who acts (recorded in the audit trail). */
export interface Actor {
  subject: string;
  source: string | null;
}

/**
 * The catalog of custom step definitions. Any caller with a valid token may read every definition:
 * a step definition holds no secret of its own, and a full-OS token limited to one task sequence
 * must be able to read the definitions its steps use.
 */
export class StepDefinitionCatalog {
  constructor(private readonly store: StepDefinitionStore & Partial<Pick<TaskSequenceStore, 'listTaskSequences'>>) {}

  /** Imports a DeployR step definition export (parsed JSON); replaces one with the same id (audited). */
  async importExport(json: unknown, actor: Actor): Promise<StepDefinition> {
    const def = parseStepDefinitionExport(json);
    const existed = (await this.store.getStepDefinition(def.id)) !== null;
    const event: AuditEvent = {
      kind: 'step-definition', method: 'import', result: existed ? 'replaced' : 'created', reason: 'ok',
      subject: actor.subject, source: actor.source, device: null, detail: { id: def.id, name: def.name, versions: def.versions.length },
    };
    await this.store.putStepDefinition(def, event);
    return def;
  }

  /** Every step definition as an overview, by name. */
  async list(): Promise<StepDefinitionOverview[]> {
    return (await this.store.listStepDefinitions()).map(stepDefinitionOverview);
  }

  /** One step definition; NOT_FOUND when there is none with that id. */
  async get(id: string): Promise<StepDefinition> {
    const def = await this.store.getStepDefinition(id.toLowerCase());
    if (!def) throw new DeployrError('NOT_FOUND', `No step definition with id ${id}; import it with: deployr step import FILE.json`);
    return def;
  }

  /**
   * The definition and version a custom step runs: the step's `stepDefinitionVersionNo` when set,
   * else the highest Active version. A version that is not Active never runs (CONFLICT);
   * NOT_FOUND when the definition or the version does not exist.
   */
  async versionForStep(step: Pick<Step, 'typeId' | 'stepDefinitionVersionNo'>): Promise<{ definition: StepDefinition; version: StepDefinitionVersion }> {
    if (step.typeId === null) throw new DeployrError('INVALID_INPUT', 'A group has no step definition.');
    const definition = await this.get(step.typeId);
    return { definition, version: stepDefinitionVersion(definition, step.stepDefinitionVersionNo) };
  }

  /**
   * Deletes a step definition (every version). Refused with CONFLICT, naming up to three of them,
   * while a task sequence has a step of it (in any version); NOT_FOUND when there is none. Audited
   * in the same transaction.
   */
  async delete(id: string, actor: Actor): Promise<StepDefinition> {
    const def = await this.get(id);
    if (!this.store.listTaskSequences) throw new DeployrError('UNAVAILABLE', 'Deleting a step definition needs the task sequences, which this store does not offer.');
    const users = (await this.store.listTaskSequences()).filter((ts) => ts.versions.some((v) => [...walkSteps(v.steps)].some(({ step }) =>
      !step.isGroup && stepKind(step) === 'custom' && step.typeId?.toLowerCase() === def.id)));
    if (users.length > 0) {
      const shown = users.slice(0, 3).map((t) => `"${t.name}" (${t.id})`).join(', ');
      const more = users.length > 3 ? ` and ${users.length - 3} more` : '';
      throw new DeployrError('CONFLICT', `Step definition "${def.name}" (${def.id}) is used by task sequence ${shown}${more}; remove those steps first. Nothing was deleted.`);
    }
    const deleted = await this.store.deleteStepDefinition(def.id, {
      kind: 'step-definition', method: 'delete', result: 'deleted', reason: 'ok', subject: actor.subject, source: actor.source, device: null,
      detail: { id: def.id, name: def.name, versions: def.versions.length },
    });
    if (!deleted) throw new DeployrError('NOT_FOUND', `No step definition with id ${id}.`);
    return def;
  }

  /**
   * Makes version `versionNo` Active (other versions keep their status; audited); NOT_FOUND when
   * the definition or version does not exist. Returns the definition and whether anything changed.
   */
  async activate(id: string, versionNo: number, actor: Actor, now: Date = new Date()): Promise<{ def: StepDefinition; changed: boolean }> {
    const def = await this.get(id);
    const version = def.versions.find((v) => v.versionNo === versionNo);
    if (!version) throw new DeployrError('NOT_FOUND', `Step definition "${def.name}" (${def.id}) has no version ${versionNo}.`);
    if (isActiveVersion(version)) return { def, changed: false };
    const previous = activateVersion(def, version, now);
    await this.store.putStepDefinition(def, {
      kind: 'step-definition', method: 'activate', result: 'changed', reason: 'ok', subject: actor.subject, source: actor.source, device: null,
      detail: { id: def.id, name: def.name, versionNo, previousStatus: previous },
    });
    return { def, changed: true };
  }
}

/** The overview of a step definition. */
export function stepDefinitionOverview(def: StepDefinition): StepDefinitionOverview {
  return {
    id: def.id, name: def.name, description: def.description ?? null, typeName: def.typeName ?? null,
    versions: def.versions.map((v) => ({ versionNo: v.versionNo, status: v.status, options: v.options.length })),
  };
}
