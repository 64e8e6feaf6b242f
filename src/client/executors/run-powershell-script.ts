// Run PowerShell script: an inline `Script`, or `ScriptName` from the `Content` slot, through pwsh (PowerShell 7) when it is installed.

import { writeFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { splitArguments } from '../runner/process.js';
import { contentSlot, describeExit, failed, processLimits, setting, type StepExecutor } from './types.js';

/** The reason given when pwsh is missing. */
export const PWSH_MISSING = 'PowerShell 7 (pwsh) is not installed on this machine';

/** Runs a Run PowerShell script step. */
export const runPowerShellScript: StepExecutor = async (ctx) => {
  const pwsh = await ctx.services.findExecutable('pwsh');
  if (!pwsh) return failed(`Run PowerShell script needs pwsh: ${PWSH_MISSING}`);
  const limits = processLimits(ctx.settings);
  if ('status' in limits) return limits;
  const { timeoutMs, codes } = limits;
  const inline = setting(ctx.settings, 'Script');
  const scriptName = setting(ctx.settings, 'ScriptName').trim();
  let file: string;
  let cwd = ctx.workDir;
  if (inline.trim() !== '') {
    file = join(ctx.workDir, 'script.ps1');
    await writeFile(file, inline, { mode: 0o600 });
  } else if (scriptName !== '') {
    const slot = contentSlot(ctx.step, 'Content', true);
    if (!slot) return failed('ScriptName is set but the step has no content item to take it from');
    const content = await ctx.services.fetchContent(slot[1]);
    file = resolve(content.dir, scriptName);
    if (!file.startsWith(resolve(content.dir) + sep)) return failed(`ScriptName "${scriptName}" points outside its content item`);
    cwd = content.dir;
  } else {
    return failed('neither Script nor ScriptName is set');
  }
  const args = ['-NoLogo', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-File', file, ...splitArguments(setting(ctx.settings, 'Parameters'))];
  const result = await ctx.services.runProgram(pwsh, args, { cwd, timeoutMs, signal: ctx.signal });
  if (result.exitCode !== null && codes.has(result.exitCode)) return { status: 'succeeded', exitCode: result.exitCode };
  return failed(`the script failed (${describeExit(result, timeoutMs)})`, result.exitCode);
};
