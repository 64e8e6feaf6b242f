// What a token limited to one task sequence may read: that task sequence, the ones it runs, and the content and step definitions they use.

import type { ContentItem } from '../domain/content-item.js';
import { DeployrError } from '../domain/errors.js';
import type { Principal } from '../domain/principal.js';
import { childTaskSequenceIds, walkSteps } from '../domain/step-tree.js';
import { stepKind } from '../domain/step-types.js';
import type { TaskSequence } from '../domain/task-sequence.js';
import { limitIds } from '../domain/task-sequence-limit.js';
import { isOptionType, OPTION_TYPES } from '../domain/step-definition.js';
import type { ContentItemStore, StepDefinitionStore, TaskSequenceStore } from './ports.js';

/** The closure of a task sequence limit: lower-case ids of what a limited token may read. */
export interface Reach {
  /** The named task sequences and every one their Run task sequence steps run, transitively (any version). */
  taskSequences: ReadonlySet<string>;
  /**
   * Every content item a step of any version of those task sequences references, and every default
   * of a `Content` option of the custom step definitions they use (all versions of each item).
   */
  contentItems: ReadonlySet<string>;
  /** Every custom step definition a step of those task sequences uses. */
  stepDefinitions: ReadonlySet<string>;
}


/**
 * The closure of `limit` (one or more `<id>[:<version>]`, comma-separated) over `all` task sequences: follows Run task sequence steps of every
 * version (a module's version can change under a running parent), and collects the content items
 * (`contentItems` slots, by id) and custom step definitions (`typeId`) of every step. A missing
 * task sequence ends that branch; cycles are followed once.
 */
export function reachOf(all: readonly TaskSequence[], limit: string): Reach {
  const byId = new Map(all.map((ts) => [ts.id.toLowerCase(), ts]));
  const taskSequences = new Set<string>();
  const contentItems = new Set<string>();
  const stepDefinitions = new Set<string>();
  const queue = limitIds(limit);
  while (queue.length > 0) {
    const id = queue.shift() as string;
    if (taskSequences.has(id)) continue;
    taskSequences.add(id);
    const ts = byId.get(id);
    if (!ts) continue;
    for (const version of ts.versions) {
      for (const { step } of walkSteps(version.steps)) {
        for (const ref of Object.values(step.contentItems)) {
          const item = ref.split(':')[0]?.trim().toLowerCase();
          if (item) contentItems.add(item);
        }
        if (!step.isGroup && step.typeId !== null && stepKind(step) === 'custom') stepDefinitions.add(step.typeId.toLowerCase());
      }
    }
    for (const child of childTaskSequenceIds(ts)) if (!taskSequences.has(child)) queue.push(child);
  }
  return { taskSequences, contentItems, stepDefinitions };
}

/** Largest number of closures remembered per task sequence list (full-OS tokens name one task sequence each). */
const MAX_REMEMBERED = 256;

/**
 * Answers "may this caller read X" for every read route. A null principal (the local administrator)
 * and a token without a task sequence limit read everything; a limited token reads only its
 * closure (`reachOf`). Closures are remembered per task sequence list the store hands out, so a
 * change to any task sequence is seen on the next request.
 */
export class TokenReach {
  private remembered: { source: readonly TaskSequence[]; byLimit: Map<string, Reach> } | null = null;

  constructor(private readonly store: TaskSequenceStore & ContentItemStore & StepDefinitionStore) {}

  /** The caller's closure, or null when it is not limited. */
  async of(principal: Principal | null): Promise<Reach | null> {
    const reach = await this.taskSequenceReach(principal);
    if (reach === null || reach.stepDefinitions.size === 0) return reach;
    // A custom step whose content slot is empty uses its definition's default: those items too
    // (read each time, so an imported definition is seen at once).
    const contentItems = new Set(reach.contentItems);
    for (const id of reach.stepDefinitions) {
      const def = await this.store.getStepDefinition(id);
      for (const version of def?.versions ?? []) {
        for (const option of version.options) {
          const item = isOptionType(option, OPTION_TYPES.Content) ? option.defaultValue?.split(':')[0]?.trim().toLowerCase() : undefined;
          if (item) contentItems.add(item);
        }
      }
    }
    return { ...reach, contentItems };
  }

  /** The closure over task sequences alone (remembered per task sequence list). */
  private async taskSequenceReach(principal: Principal | null): Promise<Reach | null> {
    const limit = principal?.taskSequenceLimit;
    if (!limit) return null;
    const all = await this.store.listTaskSequences();
    if (this.remembered?.source !== all) this.remembered = { source: all, byLimit: new Map() };
    const key = limitIds(limit).sort().join(',');
    let reach = this.remembered.byLimit.get(key);
    if (!reach) {
      reach = reachOf(all, key);
      if (this.remembered.byLimit.size < MAX_REMEMBERED) this.remembered.byLimit.set(key, reach);
    }
    return reach;
  }

  /** Whether the caller may read task sequence `id`. */
  async mayReadTaskSequence(principal: Principal | null, id: string): Promise<boolean> {
    const reach = await this.of(principal);
    return reach === null || reach.taskSequences.has(id.toLowerCase());
  }

  /** Whether the caller may read content item `id` (and every version of it). */
  async mayReadContentItem(principal: Principal | null, id: string): Promise<boolean> {
    const reach = await this.of(principal);
    return reach === null || reach.contentItems.has(id.toLowerCase());
  }

  /** Whether the caller may read custom step definition `id`. */
  async mayReadStepDefinition(principal: Principal | null, id: string): Promise<boolean> {
    const reach = await this.of(principal);
    return reach === null || reach.stepDefinitions.has(id.toLowerCase());
  }

  /** The content items of `items` the caller may read. */
  async filterContentItems<T extends { id: string }>(principal: Principal | null, items: readonly T[]): Promise<T[]> {
    const reach = await this.of(principal);
    return reach === null ? [...items] : items.filter((c) => reach.contentItems.has(c.id.toLowerCase()));
  }

  /** The step definitions of `defs` the caller may read. */
  async filterStepDefinitions<T extends { id: string }>(principal: Principal | null, defs: readonly T[]): Promise<T[]> {
    const reach = await this.of(principal);
    return reach === null ? [...defs] : defs.filter((d) => reach.stepDefinitions.has(d.id.toLowerCase()));
  }

  /** Whether the caller may download the file with this SHA-256: some version of a content item in its reach lists it. */
  async mayReadBlob(principal: Principal | null, sha256: string): Promise<boolean> {
    const reach = await this.of(principal);
    if (reach === null) return true;
    const hash = sha256.toLowerCase();
    for (const id of reach.contentItems) {
      const item: ContentItem | null = await this.store.getContentItem(id);
      if (item?.versions.some((v) => v.files.some((f) => f.sha256 === hash))) return true;
    }
    return false;
  }

  /** Throws NOT_FOUND (as for a missing one) unless the caller may read content item `id`. */
  async assertContentItem(principal: Principal | null, id: string): Promise<void> {
    // The same answer as for a content item that does not exist: a limited token learns nothing.
    if (!(await this.mayReadContentItem(principal, id))) throw new DeployrError('NOT_FOUND', `No content item with id ${id}.`);
  }
}
