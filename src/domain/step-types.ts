// DeployR's built-in step types: their ids, names and kinds, and a step's kind.

import type { Step } from './task-sequence.js';

/** The kind of a step with a known type id. */
export type StepKind =
  | 'setVariable'
  | 'runPowerShellScript'
  | 'configureOperatingSystem'
  | 'prepareOperatingSystem'
  | 'reboot'
  | 'applyOperatingSystemFromCloud'
  | 'injectDriversFromCloud'
  | 'installApplication'
  | 'runTaskSequence'
  | 'formatDisk'
  | 'installUpdates'
  | 'enableBranchCache'
  | 'runCommandLine'
  | 'applyImage'
  | 'runServerSideScript';

/** Where a step can run: only in the boot environment (Windows PE), only in a full OS, or either. */
export type StepEnvironment = 'winpe' | 'fullos' | 'any';

/** What is known about one built-in step type. */
export interface StepTypeInfo {
  readonly typeId: string;
  readonly kind: StepKind;
  /** The step definition's display name. */
  readonly name: string;
  readonly environment: StepEnvironment;
  /** 'deployr' for 2Pint's published ids; 'deployr-oss' for ids this project assigned itself. */
  readonly origin: 'deployr' | 'deployr-oss';
}

/**
 * Built-in step types by lowercase type id. The `00000001-…` ids are DeployR's own (deployr.md
 * §3.3). The `00000002-0000-0000-0000-00000000000X` ids are this project's own, for built-in steps
 * whose DeployR id is not published (Run command line, Apply image, Run server-side script); they
 * will not match a DeployR server's ids for those steps. Any other type id is a custom step definition.
 */
export const STEP_TYPES: Readonly<Record<string, StepTypeInfo>> = Object.freeze(
  Object.fromEntries(
    (
      [
        ['00000001-0000-0000-0000-000000000001', 'setVariable', 'Set variable', 'any', 'deployr'],
        ['00000001-0000-0000-0000-000000000002', 'runPowerShellScript', 'Run PowerShell script', 'any', 'deployr'],
        ['00000001-0000-0000-0000-000000000005', 'configureOperatingSystem', 'Configure operating system', 'fullos', 'deployr'],
        ['00000001-0000-0000-0000-000000000006', 'prepareOperatingSystem', 'Prepare operating system', 'winpe', 'deployr'],
        ['00000001-0000-0000-0000-000000000007', 'reboot', 'Reboot', 'any', 'deployr'],
        ['00000001-0000-0000-0000-000000000008', 'applyOperatingSystemFromCloud', 'Apply operating system from cloud', 'winpe', 'deployr'],
        ['00000001-0000-0000-0000-000000000009', 'injectDriversFromCloud', 'Inject drivers from cloud', 'winpe', 'deployr'],
        ['00000001-0000-0000-0000-00000000000b', 'installApplication', 'Install application', 'fullos', 'deployr'],
        ['00000001-0000-0000-0000-00000000000d', 'runTaskSequence', 'Run task sequence', 'any', 'deployr'],
        ['00000001-0000-0000-0000-00000000000e', 'formatDisk', 'Format disk', 'winpe', 'deployr'],
        ['00000001-0000-0000-0000-000000000011', 'installUpdates', 'Install updates', 'fullos', 'deployr'],
        ['00000001-0000-0000-0000-000000000012', 'enableBranchCache', 'Enable BranchCache', 'fullos', 'deployr'],
        ['00000002-0000-0000-0000-000000000001', 'runCommandLine', 'Run command line', 'any', 'deployr-oss'],
        ['00000002-0000-0000-0000-000000000002', 'applyImage', 'Apply image', 'winpe', 'deployr-oss'],
        ['00000002-0000-0000-0000-000000000003', 'runServerSideScript', 'Run server-side script', 'any', 'deployr-oss'],
      ] as const
    ).map(([typeId, kind, name, environment, origin]) => [typeId, Object.freeze({ typeId, kind, name, environment, origin })]),
  ),
);

/** The type id of each built-in step kind (the inverse of `STEP_TYPES`). */
export const STEP_TYPE_IDS: Readonly<Record<StepKind, string>> = Object.freeze(
  Object.fromEntries(Object.values(STEP_TYPES).map((info) => [info.kind, info.typeId])) as Record<StepKind, string>,
);

/** The built-in step type for `typeId` (any case), or undefined for a custom step definition. */
export function stepTypeInfo(typeId: string | null): StepTypeInfo | undefined {
  if (typeId === null) return undefined;
  const key = typeId.toLowerCase();
  return Object.hasOwn(STEP_TYPES, key) ? STEP_TYPES[key] : undefined;
}

/** A step's kind: 'group', a built-in `StepKind`, or 'custom' for a custom step definition. */
export function stepKind(step: Pick<Step, 'isGroup' | 'typeId'>): StepKind | 'group' | 'custom' {
  if (step.isGroup) return 'group';
  return stepTypeInfo(step.typeId)?.kind ?? 'custom';
}
