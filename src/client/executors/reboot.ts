// Reboot: the run saves its state and the client exits with code 194; the next client start resumes after this step.

import { setting, type StepExecutor } from './types.js';

/** Runs a Reboot step (`RebootMessage` is shown; `RebootRequested` and `RebootDelay` are kept as variables for the launcher). */
export const reboot: StepExecutor = async (ctx) => {
  const message = setting(ctx.settings, 'RebootMessage').trim();
  ctx.say(message !== '' ? `Restart requested: ${message}` : 'Restart requested.');
  return { status: 'succeeded', exitCode: 0, reboot: 'after' };
};
