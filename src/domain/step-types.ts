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
  | 'runServerSideScript'
  | 'configureInitialVariables';

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
  /** True when deployr's Linux client runs it (in the Linux boot environment or a Linux full OS); false when only DeployR's Windows client can. */
  readonly linux: boolean;
}

/**
 * Built-in step types by lowercase type id. The `00000001-…` ids are DeployR's own (deployr.md
 * §3.3). The `00000002-0000-0000-0000-00000000000X` ids are this project's own, for built-in steps
 * whose DeployR id is not published (Run command line, Apply image, Run server-side script); they
 * will not match a DeployR server's ids for those steps. `…0021` (Configure initial variables) is
 * the id DeployR's "Windows bare metal from cloud" template gives its first step, which runs
 * Set-InitialVariables.ps1 from DeployR's built-in Windows content. Any other `00000001-…` id is
 * a DeployR built-in this project does not know (`isDeployrBuiltInId`); any other id is a custom
 * step definition.
 */
export const STEP_TYPES: Readonly<Record<string, StepTypeInfo>> = Object.freeze(
  Object.fromEntries(
    (
      [
        ['00000001-0000-0000-0000-000000000001', 'setVariable', 'Set variable', 'any', 'deployr', true],
        ['00000001-0000-0000-0000-000000000002', 'runPowerShellScript', 'Run PowerShell script', 'any', 'deployr', true],
        ['00000001-0000-0000-0000-000000000005', 'configureOperatingSystem', 'Configure operating system', 'fullos', 'deployr', false],
        ['00000001-0000-0000-0000-000000000006', 'prepareOperatingSystem', 'Prepare operating system', 'winpe', 'deployr', false],
        ['00000001-0000-0000-0000-000000000007', 'reboot', 'Reboot', 'any', 'deployr', true],
        ['00000001-0000-0000-0000-000000000008', 'applyOperatingSystemFromCloud', 'Apply operating system from cloud', 'winpe', 'deployr', false],
        ['00000001-0000-0000-0000-000000000009', 'injectDriversFromCloud', 'Inject drivers from cloud', 'winpe', 'deployr', false],
        ['00000001-0000-0000-0000-00000000000b', 'installApplication', 'Install application', 'fullos', 'deployr', true],
        ['00000001-0000-0000-0000-00000000000d', 'runTaskSequence', 'Run task sequence', 'any', 'deployr', true],
        ['00000001-0000-0000-0000-00000000000e', 'formatDisk', 'Format disk', 'winpe', 'deployr', true],
        ['00000001-0000-0000-0000-000000000011', 'installUpdates', 'Install updates', 'fullos', 'deployr', false],
        ['00000001-0000-0000-0000-000000000012', 'enableBranchCache', 'Enable BranchCache', 'fullos', 'deployr', false],
        ['00000001-0000-0000-0000-000000000021', 'configureInitialVariables', 'Configure initial variables', 'any', 'deployr', false],
        ['00000002-0000-0000-0000-000000000001', 'runCommandLine', 'Run command line', 'any', 'deployr-oss', true],
        ['00000002-0000-0000-0000-000000000002', 'applyImage', 'Apply image', 'winpe', 'deployr-oss', true],
        ['00000002-0000-0000-0000-000000000003', 'runServerSideScript', 'Run server-side script', 'any', 'deployr-oss', true],
      ] as const
    ).map(([typeId, kind, name, environment, origin, linux]) => [typeId, Object.freeze({ typeId, kind, name, environment, origin, linux })]),
  ),
);

/** DeployR's built-in step definitions' ids all start with this prefix. */
const DEPLOYR_BUILT_IN_PREFIX = '00000001-0000-0000-0000-';

/** True for an id in DeployR's built-in range (`00000001-0000-0000-0000-…`), known to this project or not; such an id is never a custom step definition to import. */
export function isDeployrBuiltInId(typeId: string | null): boolean {
  return typeId !== null && typeId.toLowerCase().startsWith(DEPLOYR_BUILT_IN_PREFIX);
}

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

/**
 * A step's kind: 'group', a built-in `StepKind`, 'unknownBuiltIn' for an id in DeployR's built-in
 * range that this project does not know, or 'custom' for a custom step definition.
 */
export function stepKind(step: Pick<Step, 'isGroup' | 'typeId'>): StepKind | 'group' | 'unknownBuiltIn' | 'custom' {
  if (step.isGroup) return 'group';
  const known = stepTypeInfo(step.typeId)?.kind;
  if (known !== undefined) return known;
  return isDeployrBuiltInId(step.typeId) ? 'unknownBuiltIn' : 'custom';
}
