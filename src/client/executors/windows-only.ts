// Steps that only DeployR's Windows client can run (Apply operating system from cloud, Prepare operating system, …): recognised, and failed with a clear reason.

import { stepSupport, windowsReason } from '../../domain/step-support.js';
import { stepTypeInfo } from '../../domain/step-types.js';
import { failed, type StepExecutor } from './types.js';

/** Fails a Windows-only step: "needs Windows PE" for boot-environment steps, "needs Windows" for full-OS ones, "needs Windows PE or Windows" for either. */
export const windowsOnly: StepExecutor = async (ctx) => {
  const info = stepTypeInfo(ctx.step.typeId);
  const name = info?.name ?? ctx.step.name;
  return failed(`"${name}" ${info ? windowsReason(info) : "needs DeployR's Windows client"}; this client cannot run it`);
};

/** Fails a step whose type id is in DeployR's built-in range but unknown to deployr (never asks to import it). */
export const unknownBuiltIn: StepExecutor = async (ctx) => {
  const support = stepSupport(ctx.step);
  return failed(`step type ${ctx.step.typeId ?? ''} is ${support.reason ?? 'not known'}`);
};
