// Run server-side script: runs `ScriptName` from the server's Scripts folder there; every {name, value} it prints becomes a variable.

import { ClientError } from '../api-client.js';
import { splitArguments } from '../runner/process.js';
import { failed, setting, type StepExecutor } from './types.js';

/** Runs a Run server-side script step (`ScriptName`, `Parameters`, `Timeout` in minutes, at most 60). */
export const runServerSideScript: StepExecutor = async (ctx) => {
  const script = setting(ctx.settings, 'ScriptName').trim();
  if (script === '') return failed('the ScriptName setting is empty');
  const timeout = setting(ctx.settings, 'Timeout').trim();
  const minutes = timeout === '' ? null : Number(timeout);
  if (minutes !== null && (!Number.isFinite(minutes) || minutes <= 0 || minutes > 60)) return failed(`Timeout must be a number of minutes up to 60, not "${timeout}"`);
  let result;
  try {
    result = await ctx.services.serverScript(script, splitArguments(setting(ctx.settings, 'Parameters')), minutes === null ? undefined : Math.max(1, Math.round(minutes * 60)));
  } catch (err) {
    if (err instanceof ClientError && err.code === 'HTTP') return failed(`the server refused the script: ${err.message}`);
    throw err;
  }
  if (result.output) ctx.output(result.output.endsWith('\n') ? result.output : result.output + '\n');
  for (const v of result.variables) {
    ctx.variables.set(v.name, v.value);
    ctx.say(`${v.name} = ${ctx.variables.isSecret(v.name) ? '********' : v.value}`);
  }
  if (result.timedOut) return failed('the server-side script was stopped after its timeout');
  if (result.exitCode !== 0) return failed(`the server-side script failed (exit code ${result.exitCode ?? 'none'})`, result.exitCode);
  return { status: 'succeeded', exitCode: 0 };
};
