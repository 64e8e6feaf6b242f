// Run task sequence: runs another task sequence (`childTaskSequenceId` = "<guid>:<version>") as a module of this one.

import { failed, setting, type StepExecutor } from './types.js';

/** Runs a Run task sequence step. */
export const runTaskSequence: StepExecutor = async (ctx) => {
  const reference = setting(ctx.settings, 'childTaskSequenceId').trim();
  if (reference === '') return failed('childTaskSequenceId is not set');
  const child = await ctx.services.fetchTaskSequence(reference);
  ctx.say(`Running task sequence "${child.name}" (${child.id}:${child.versionNo})`);
  const flow = await ctx.services.runNested(child);
  if (flow === 'reboot') return { status: 'succeeded', exitCode: null, reboot: 'within' };
  if (flow === 'failed') return failed(`a step of task sequence "${child.name}" failed`);
  return { status: 'succeeded', exitCode: 0 };
};
