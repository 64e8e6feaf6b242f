// Walking a task sequence's step tree: visiting, counting and finding steps, and the task sequences it nests.

import { stepKind } from './step-types.js';
import type { Step, TaskSequence } from './task-sequence.js';

/** One step met while walking a step tree. */
export interface StepVisit {
  readonly step: Step;
  /** Names of the enclosing groups, outermost first (empty for a top-level step). */
  readonly path: readonly string[];
  /** Number of enclosing groups (0 for a top-level step). */
  readonly depth: number;
  /** The enclosing group, or null for a top-level step. */
  readonly parent: Step | null;
}

/**
 * Walks a step tree depth-first in run order: each group is yielded before its members. Disabled
 * steps and groups are yielded too (filter on `step.enabled`).
 */
export function* walkSteps(steps: readonly Step[]): Generator<StepVisit, void, undefined> {
  yield* walk(steps, [], null);
}

function* walk(steps: readonly Step[], path: readonly string[], parent: Step | null): Generator<StepVisit, void, undefined> {
  for (const step of steps) {
    yield { step, path, depth: path.length, parent };
    if (step.groupMembers.length > 0) yield* walk(step.groupMembers, [...path, step.name], step);
  }
}

/** Options for `countSteps`. */
export interface CountStepsOptions {
  /** Count groups as well as steps (default false). */
  readonly includeGroups?: boolean;
  /** Count only enabled steps inside enabled groups (default false: count everything). */
  readonly enabledOnly?: boolean;
}

/** Counts the steps in a tree at every depth; by default plain steps only, disabled ones included. */
export function countSteps(steps: readonly Step[], options: CountStepsOptions = {}): number {
  let n = 0;
  const visit = (list: readonly Step[]): void => {
    for (const step of list) {
      if (options.enabledOnly === true && !step.enabled) continue;
      if (!step.isGroup || options.includeGroups === true) n++;
      visit(step.groupMembers);
    }
  };
  visit(steps);
  return n;
}

/** The step (or group) with the given id (any case) anywhere in the tree, or undefined. */
export function findStep(steps: readonly Step[], id: string): Step | undefined {
  const wanted = id.toLowerCase();
  for (const { step } of walkSteps(steps)) {
    if (step.id === wanted) return step;
  }
  return undefined;
}

/** The task sequence ids that "Run task sequence" steps of any version of `ts` name (`childTaskSequenceId`). */
export function childTaskSequenceIds(ts: TaskSequence): string[] {
  const ids = new Set<string>();
  for (const version of ts.versions) {
    for (const { step } of walkSteps(version.steps)) {
      if (stepKind(step) !== 'runTaskSequence') continue;
      const key = Object.keys(step.settings).find((k) => k.toLowerCase() === 'childtasksequenceid');
      const id = key === undefined ? undefined : step.settings[key]?.split(':')[0]?.trim().toLowerCase();
      if (id) ids.add(id);
    }
  }
  return [...ids];
}
