// Run PowerShell script: an inline `Script`, or `ScriptName` from the `Content` slot, through pwsh (PowerShell 7) when it is installed.

import { writeFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { psCallScript } from '../../domain/script-quoting.js';
import { splitArguments } from '../runner/process.js';
import { contentSlot, describeExit, failed, processLimits, setting, type StepContext, type StepExecutor, type StepOutcome } from './types.js';

/** The reason given when pwsh is missing. */
export const PWSH_MISSING = 'PowerShell 7 (pwsh) is not installed on this machine';

/** Writes inline script text to `script.ps1` in the step's private folder (owner-only); returns its path. */
export async function writeInlineScript(workDir: string, text: string): Promise<string> {
  const file = join(workDir, 'script.ps1');
  await writeFile(file, text, { mode: 0o600 });
  return file;
}

/** The path of `name` inside the content folder `dir`, or null when it would point outside it. */
export function scriptInContent(dir: string, name: string): string | null {
  const file = resolve(dir, name);
  return file.startsWith(resolve(dir) + sep) ? file : null;
}

/**
 * Runs `file` with pwsh (`-NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -File FILE`)
 * in `cwd`, with the step's `Timeout` (minutes) and `SuccessCodes` (default 0) from `settings`.
 * `Parameters` are passed through a 0600 wrapper script in the step's private folder (removed with
 * it), never on pwsh's command line. The step's variables file reaches the script through the
 * runner's environment.
 */
export async function runPwshFile(ctx: StepContext, pwsh: string, file: string, cwd: string, settings: Readonly<Record<string, string>>): Promise<StepOutcome> {
  const limits = processLimits(settings);
  if ('status' in limits) return limits;
  const { timeoutMs, codes } = limits;
  const parameters = splitArguments(setting(settings, 'Parameters'));
  let target = file;
  if (parameters.length > 0) {
    target = join(ctx.workDir, 'parameters.ps1');
    await writeFile(target, psCallScript(file, parameters), { mode: 0o600 });
  }
  const args = ['-NoLogo', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-File', target];
  const result = await ctx.services.runProgram(pwsh, args, { cwd, timeoutMs, signal: ctx.signal });
  if (result.exitCode !== null && codes.has(result.exitCode)) return { status: 'succeeded', exitCode: result.exitCode };
  return failed(`the script failed (${describeExit(result, timeoutMs)})`, result.exitCode);
}

/** Runs a Run PowerShell script step. */
export const runPowerShellScript: StepExecutor = async (ctx) => {
  const pwsh = await ctx.services.findExecutable('pwsh');
  if (!pwsh) return failed(`Run PowerShell script needs pwsh: ${PWSH_MISSING}`);
  const limits = processLimits(ctx.settings);
  if ('status' in limits) return limits;
  const inline = setting(ctx.settings, 'Script');
  const scriptName = setting(ctx.settings, 'ScriptName').trim();
  let file: string;
  let cwd = ctx.workDir;
  if (inline.trim() !== '') {
    file = await writeInlineScript(ctx.workDir, inline);
  } else if (scriptName !== '') {
    const slot = contentSlot(ctx.step, 'Content', true);
    if (!slot) return failed('ScriptName is set but the step has no content item to take it from');
    const content = await ctx.services.fetchContent(slot[1]);
    const inContent = scriptInContent(content.dir, scriptName);
    if (inContent === null) return failed(`ScriptName "${scriptName}" points outside its content item`);
    file = inContent;
    cwd = content.dir;
  } else {
    return failed('neither Script nor ScriptName is set');
  }
  return runPwshFile(ctx, pwsh, file, cwd, ctx.settings);
};
