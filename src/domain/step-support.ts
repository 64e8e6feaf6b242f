// Whether deployr's Linux client can run a step, and why not: the same words for `ts show`, the client's plan and a failed step.

import { stepKind, stepTypeInfo, type StepTypeInfo } from './step-types.js';
import type { Step } from './task-sequence.js';

/** What is known about a custom step definition when support is judged. */
export interface DefinitionFacts {
  readonly name: string;
  /** True when it has an Active version (only an Active version runs). */
  readonly active: boolean;
}

/** Facts about the place the steps would run; each may be unknown (undefined). */
export interface SupportFacts {
  /**
   * The custom step definition with this id: its facts, null when the server has none, undefined
   * when not checked.
   */
  definition?(typeId: string): DefinitionFacts | null | undefined;
  /** Whether pwsh (PowerShell 7) is on this machine's PATH; undefined when not known (e.g. `ts show` on the server). */
  readonly pwsh?: boolean;
}

/** Whether a step can run with deployr's Linux client. */
export interface StepSupport {
  /** The step's type for people: "Set variable", `custom "Name"`, `custom step definition <id>`, … */
  readonly type: string;
  /** False when it cannot run here (it fails when the run reaches it). */
  readonly runs: boolean;
  /** Why it cannot run, or what it needs to run (e.g. pwsh); null when nothing is needed. */
  readonly reason: string | null;
}

/** Where DeployR's Windows client runs a Windows-only built-in step, as a reason. */
export function windowsReason(info: Pick<StepTypeInfo, 'environment'>): string {
  const where = info.environment === 'fullos' ? 'Windows' : info.environment === 'winpe' ? 'Windows PE' : 'Windows PE or Windows';
  return `needs ${where} (DeployR's Windows client)`;
}

/** The reason given for a step that needs pwsh when pwsh is missing. */
export const PWSH_NEEDED = "needs pwsh (PowerShell 7) on the client's PATH";

/** Judges one plain step (a group always "runs": its members are judged one by one). */
export function stepSupport(step: Pick<Step, 'isGroup' | 'typeId'>, facts: SupportFacts = {}): StepSupport {
  const kind = stepKind(step);
  if (kind === 'group') return { type: 'group', runs: true, reason: null };
  if (kind === 'unknownBuiltIn') {
    return {
      type: `DeployR built-in step ${step.typeId ?? ''}`,
      runs: false,
      reason: "a DeployR built-in step that deployr does not know; it needs DeployR's Windows client",
    };
  }
  const pwsh = (type: string): StepSupport =>
    facts.pwsh === false ? { type, runs: false, reason: 'needs pwsh: PowerShell 7 (pwsh) is not installed on this machine' } : { type, runs: true, reason: facts.pwsh === true ? null : PWSH_NEEDED };
  if (kind === 'custom') {
    const id = step.typeId ?? '(none)';
    const def = facts.definition?.(id);
    if (def === null) return { type: `custom step definition ${id}`, runs: false, reason: `step definition ${id} is not on the server; import it with deployr step import` };
    if (def === undefined) return pwsh(`custom step definition ${id}`);
    const type = `custom "${def.name}"`;
    if (!def.active) return { type, runs: false, reason: `step definition "${def.name}" has no Active version` };
    return pwsh(type);
  }
  const info = stepTypeInfo(step.typeId) as StepTypeInfo;
  if (!info.linux) return { type: info.name, runs: false, reason: windowsReason(info) };
  if (kind === 'runPowerShellScript') return pwsh(info.name);
  return { type: info.name, runs: true, reason: null };
}

/** How many steps a version has, in the one count used everywhere (the `ts` commands, the client, runs). */
export interface StepCounts {
  /** Enabled plain steps outside disabled groups: what a run counts as its steps ([n/N]). */
  readonly steps: number;
  /** Plain steps that are disabled or inside a disabled group (not counted). */
  readonly disabled: number;
  /** Groups (not counted). */
  readonly groups: number;
}

/** Counts a step tree the one way: see `StepCounts`. A Run task sequence step counts as one; its task sequence's steps are counted when it starts. */
export function stepCounts(steps: readonly Step[]): StepCounts {
  let counted = 0;
  let disabled = 0;
  let groups = 0;
  const visit = (list: readonly Step[], on: boolean): void => {
    for (const step of list) {
      const enabled = on && step.enabled;
      if (step.isGroup) {
        groups++;
        visit(step.groupMembers, enabled);
      } else if (enabled) counted++;
      else disabled++;
    }
  };
  visit(steps, true);
  return { steps: counted, disabled, groups };
}

/** "3 steps", with what was left out: "3 steps (not counting 2 groups and 1 disabled step)". */
export function describeStepCounts(c: StepCounts): string {
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  const left = [c.groups > 0 ? plural(c.groups, 'group') : '', c.disabled > 0 ? plural(c.disabled, 'disabled step') : ''].filter(Boolean);
  return `${plural(c.steps, 'step')}${left.length ? ` (not counting ${left.join(' and ')})` : ''}`;
}

/** One line of a step plan. */
export interface PlanLine {
  /** The step's number in the count (1, 2, …), or null for a group or a step not counted (disabled). */
  readonly number: number | null;
  readonly depth: number;
  readonly step: Step;
  /** Null for a group. */
  readonly support: StepSupport | null;
  /** False for a disabled step or group, or one inside a disabled group. */
  readonly enabled: boolean;
}

/** The plan of a step tree: every group and step in run order, numbered as counted, with whether each can run here. */
export function stepPlan(steps: readonly Step[], facts: SupportFacts = {}): PlanLine[] {
  const out: PlanLine[] = [];
  let n = 0;
  const visit = (list: readonly Step[], depth: number, on: boolean): void => {
    for (const step of list) {
      const enabled = on && step.enabled;
      if (step.isGroup) {
        out.push({ number: null, depth, step, support: null, enabled });
        visit(step.groupMembers, depth + 1, enabled);
      } else {
        out.push({ number: enabled ? ++n : null, depth, step, support: stepSupport(step, facts), enabled });
      }
    }
  };
  visit(steps, 0, true);
  return out;
}

/**
 * The plan as text lines for people, e.g. `3. Format  [Format disk] runs here` or
 * `4. Apply OS  [Apply operating system from cloud] cannot run here: needs Windows PE (DeployR's Windows client)`;
 * then a summary line: how many of the counted steps can run here.
 */
export function planText(plan: readonly PlanLine[], indent = ''): string[] {
  const lines: string[] = [];
  const width = String(plan.filter((l) => l.number !== null).length).length;
  let runs = 0;
  let cannot = 0;
  for (const l of plan) {
    const pad = `${indent}${'   '.repeat(l.depth)}`;
    const notes = [l.step.enabled ? '' : 'disabled', l.step.condition ? 'conditional' : ''].filter(Boolean);
    const noteText = notes.length ? ` (${notes.join(', ')})` : '';
    if (l.support === null) { lines.push(`${pad}[group] ${l.step.name}${noteText}`); continue; }
    const s = l.support;
    const verdict = !l.enabled ? 'not run' : s.runs ? `runs here${s.reason ? `; ${s.reason}` : ''}` : `cannot run here: ${s.reason ?? 'not supported'}`;
    if (l.enabled) { if (s.runs) runs++; else cannot++; }
    const number = l.number === null ? '-'.padStart(width).padEnd(width + 1) : `${String(l.number).padStart(width)}.`;
    lines.push(`${pad}${number} ${l.step.name}  [${s.type}]${noteText} ${verdict}`);
  }
  lines.push(`${indent}${runs} of ${runs + cannot} step${runs + cannot === 1 ? '' : 's'} can run here${cannot > 0 ? `; ${cannot} cannot (the run fails there unless the step continues on error)` : ''}.`);
  return lines;
}
