// A custom step definition: read it from the server, pick the version, check the options, expose the effective settings, run its script with pwsh.

import { stat } from 'node:fs/promises';
import { DeployrError } from '../../domain/errors.js';
import { stepDefinitionVersion, type StepDefinitionVersion } from '../../domain/step-definition.js';
import { checkOptions, resolveOptions, scriptContent, scriptKind } from '../../domain/step-options.js';
import type { DownloadedContent } from '../content-download.js';
import { PWSH_MISSING, runPwshFile, scriptInContent, writeInlineScript } from './run-powershell-script.js';
import { failed, processLimits, type StepExecutor } from './types.js';

/**
 * Runs a step whose type is a custom step definition. The definition comes from the server; the
 * step's `stepDefinitionVersionNo` (else the highest Active version) is used, and a version that
 * is not Active never runs. The effective settings are each option's default (with `%NAME%`
 * expanded) overlaid by the step's own settings; a required option without a value, or a value
 * that fails one of its option's regex validations, fails the step. Every `Content` option's
 * content item is downloaded (`_CONTENT-<option>` and `_CONTENTMETADATA-<option>` are set), the
 * effective settings are written to the step's variables file, and the `Script` option runs with
 * pwsh as Run PowerShell script runs: a one-line `.ps1` name is a file in the script's content
 * item, anything else is the script itself.
 */
export const customStep: StepExecutor = async (ctx) => {
  const id = ctx.step.typeId ?? '(none)';
  const def = await ctx.services.fetchStepDefinition(id);
  if (!def) return failed(`step definition ${id} is not on the server; import it with deployr step import`);
  const label = `custom step "${def.name}"`;
  let version: StepDefinitionVersion;
  try {
    version = stepDefinitionVersion(def, ctx.step.stepDefinitionVersionNo);
  } catch (err) {
    if (err instanceof DeployrError) return failed(err.code === 'CONFLICT' ? `${err.message}; only an Active version runs` : err.message);
    throw err;
  }

  const resolved = resolveOptions(version, ctx.settings, ctx.step.contentItems, (text) => ctx.variables.expand(text));
  const problem = checkOptions(version, resolved);
  if (problem !== null) return failed(`${label}: ${problem}`);
  const script = resolved.script;
  if (script === null) return failed(`${label}: version ${version.versionNo} has no Script option, so there is nothing to run`);
  if (script.value.trim() === '') return failed(`${label}: its Script option "${script.option}" is empty`);

  const pwsh = await ctx.services.findExecutable('pwsh');
  if (!pwsh) return failed(`${label} needs pwsh: ${PWSH_MISSING}`);
  const limits = processLimits(resolved.settings);
  if ('status' in limits) return limits;

  // Every content item the options name, as Install application acquires its content.
  const downloaded = new Map<string, DownloadedContent>();
  for (const c of resolved.content) {
    let content: DownloadedContent;
    try {
      content = await ctx.services.fetchContent(c.reference);
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      return failed(`${label}: content item ${c.reference} of option "${c.name}" could not be downloaded: ${(err as Error).message.split('\n')[0]}`);
    }
    downloaded.set(c.name, content);
    ctx.variables.set(`_CONTENT-${c.name}`, content.dir);
    ctx.variables.set(`_CONTENTMETADATA-${c.name}`, JSON.stringify({ Id: content.id, Name: content.name, VersionNo: content.versionNo }));
  }
  const holder = scriptContent(resolved);
  const holderDir = holder === null ? null : (downloaded.get(holder.name)?.dir ?? null);

  let file: string;
  let cwd: string;
  let what: string;
  if (scriptKind(script.value) === 'inline') {
    file = await writeInlineScript(ctx.workDir, script.value);
    cwd = holderDir ?? ctx.workDir;
    what = `the inline script of option "${script.option}"`;
  } else {
    const name = script.value.trim();
    if (holder === null || holderDir === null) {
      return failed(`${label}: its Script option "${script.option}" names "${name}", but no Content option names a content item to take it from`);
    }
    const inContent = scriptInContent(holderDir, name);
    if (inContent === null) return failed(`${label}: script "${name}" points outside its content item`);
    const found = await stat(inContent).then((s) => s.isFile(), () => false);
    if (!found) return failed(`${label}: script "${name}" is not in content item ${holder.reference} (option "${holder.name}")`);
    file = inContent;
    cwd = holderDir;
    what = `"${name}" from content item ${holder.reference}`;
  }

  await ctx.services.exposeSettings(resolved.settings);
  ctx.say(`Step definition "${def.name}" version ${version.versionNo}: running ${what} with pwsh`);
  const outcome = await runPwshFile(ctx, pwsh, file, cwd, resolved.settings);
  if (outcome.status === 'succeeded') return { ...outcome, message: `step definition "${def.name}" version ${version.versionNo}` };
  return { ...outcome, message: `${label}: ${outcome.message ?? 'failed'}` };
};
