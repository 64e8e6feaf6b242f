// Run command line: runs `CommandLine` through the system shell (`WorkingDirectory`, `Timeout` in minutes, `SuccessCodes`).

import { describeExit, failed, processLimits, setting, type StepExecutor } from './types.js';

/** Runs a Run command line step. */
export const runCommandLine: StepExecutor = async (ctx) => {
  const command = setting(ctx.settings, 'CommandLine');
  if (command.trim() === '') return failed('the CommandLine setting is empty');
  const limits = processLimits(ctx.settings);
  if ('status' in limits) return limits;
  const { timeoutMs, codes } = limits;
  const cwd = setting(ctx.settings, 'WorkingDirectory').trim() || ctx.workDir;
  const result = await ctx.services.runShell(command, { cwd, timeoutMs, signal: ctx.signal });
  if (result.exitCode !== null && codes.has(result.exitCode)) return { status: 'succeeded', exitCode: result.exitCode };
  return failed(`the command line failed (${describeExit(result, timeoutMs)})`, result.exitCode);
};
