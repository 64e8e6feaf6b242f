// Steps that only DeployR's Windows client can run (Format disk, Apply operating system, …): recognised, and failed with a clear reason.

import { stepTypeInfo } from '../../domain/step-types.js';
import { failed, type StepExecutor } from './types.js';

/** Fails a Windows-only step: "needs Windows PE" for boot-environment steps, "needs Windows" for full-OS ones. */
export const windowsOnly: StepExecutor = async (ctx) => {
  const info = stepTypeInfo(ctx.step.typeId);
  const name = info?.name ?? ctx.step.name;
  return failed(info?.environment === 'fullos'
    ? `"${name}" needs Windows (DeployR's Windows client); this client cannot run it`
    : `"${name}" needs Windows PE (DeployR's Windows client); this client cannot run it`);
};
