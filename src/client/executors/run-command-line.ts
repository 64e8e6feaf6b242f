// Run command line: runs `CommandLine` through the system shell (`WorkingDirectory`, `Timeout` in minutes, `SuccessCodes`).

import { stat } from 'node:fs/promises';
import { describeExit, failed, processLimits, setting, type StepExecutor } from './types.js';

/** Runs a Run command line step. */
export const runCommandLine: StepExecutor = async (ctx) => {
  const command = setting(ctx.settings, 'CommandLine');
  if (command.trim() === '') return failed('the CommandLine setting is empty');
  const limits = processLimits(ctx.settings);
  if ('status' in limits) return limits;
  const { timeoutMs, codes } = limits;
  const cwd = setting(ctx.settings, 'WorkingDirectory').trim() || ctx.workDir;
  // The shell cannot start in a folder that is not there (it would look like "ended by a signal").
  // Not named: after variable expansion it may hold a secret.
  const folder = await stat(cwd).then((s) => s.isDirectory(), () => false);
  if (!folder) return failed('the working directory (the WorkingDirectory setting) does not exist or is not a folder');
  const result = await ctx.services.runShell(command, { cwd, timeoutMs, signal: ctx.signal });
  if (result.exitCode !== null && codes.has(result.exitCode)) return { status: 'succeeded', exitCode: result.exitCode };
  return failed(`the command line failed (${describeExit(result, timeoutMs)})`, result.exitCode);
};
