// Install application: downloads the `Application` content version, sets `_CONTENT-<Slot>`, and runs its installation command line there.

import { contentSlot, describeExit, failed, processLimits, setting, type StepExecutor } from './types.js';

/** Exit codes that count as success by default: 0, and 3010 (installed, restart needed). */
const DEFAULT_SUCCESS = [0, 3010];

/** Runs an Install application step (`CommandLine` overrides the version's installation command line). */
export const installApplication: StepExecutor = async (ctx) => {
  const slot = contentSlot(ctx.step, 'Application', true);
  if (!slot) return failed('no application content item is set (contentItems.Application)');
  const [slotName, reference] = slot;
  const limits = processLimits(ctx.settings, DEFAULT_SUCCESS);
  if ('status' in limits) return limits;
  const { timeoutMs, codes } = limits;
  const content = await ctx.services.fetchContent(reference);
  ctx.variables.set(`_CONTENT-${slotName}`, content.dir);
  ctx.variables.set(`_CONTENTMETADATA-${slotName}`, JSON.stringify({ Id: content.id, Name: content.name, VersionNo: content.versionNo }));
  const override = setting(ctx.settings, 'CommandLine');
  const command = ctx.variables.expand(override.trim() !== '' ? override : (content.installationCommandLine ?? ''));
  if (command.trim() === '') return failed(`"${content.name}" version ${content.versionNo} has no installation command line`);
  ctx.say(`Installing "${content.name}" (${content.id}:${content.versionNo})`);
  const result = await ctx.services.runShell(command, { cwd: content.dir, timeoutMs, signal: ctx.signal });
  if (result.exitCode !== null && codes.has(result.exitCode)) return { status: 'succeeded', exitCode: result.exitCode };
  return failed(`the installation command line failed (${describeExit(result, timeoutMs)})`, result.exitCode);
};
