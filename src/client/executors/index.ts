// The executor for each step kind: one file per built-in step, Windows-only steps (and DeployR built-ins deployr does not know) recognised, custom step definitions run from the server's definition.

import { stepKind, type StepKind } from '../../domain/step-types.js';
import type { Step } from '../../domain/task-sequence.js';
import { applyImage } from './apply-image.js';
import { customStep } from './custom-step.js';
import { installApplication } from './install-application.js';
import { reboot } from './reboot.js';
import { runCommandLine } from './run-command-line.js';
import { runPowerShellScript } from './run-powershell-script.js';
import { runServerSideScript } from './run-server-side-script.js';
import { runTaskSequence } from './run-task-sequence.js';
import { setVariable } from './set-variable.js';
import type { StepExecutor } from './types.js';
import { formatDisk } from './format-disk.js';
import { unknownBuiltIn, windowsOnly } from './windows-only.js';

/** Every built-in step kind's executor. */
export const EXECUTORS: Readonly<Record<StepKind, StepExecutor>> = {
  setVariable,
  runCommandLine,
  runPowerShellScript,
  runTaskSequence,
  installApplication,
  applyImage,
  reboot,
  runServerSideScript,
  formatDisk,
  applyOperatingSystemFromCloud: windowsOnly,
  prepareOperatingSystem: windowsOnly,
  injectDriversFromCloud: windowsOnly,
  configureOperatingSystem: windowsOnly,
  installUpdates: windowsOnly,
  enableBranchCache: windowsOnly,
  configureInitialVariables: windowsOnly,
};

/** The executor for a (non-group) step. */
export function executorFor(step: Step): StepExecutor {
  const kind = stepKind(step);
  if (kind === 'group') throw new Error('a group has no executor');
  if (kind === 'unknownBuiltIn') return unknownBuiltIn;
  return kind === 'custom' ? customStep : EXECUTORS[kind];
}
