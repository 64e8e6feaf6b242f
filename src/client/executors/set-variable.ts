// Set variable: sets one task sequence variable (`VariableName`, `VariableValue`; `Secret` "true" marks it secret).

import { isValidVariableName } from '../../domain/variables.js';
import { failed, setting, type StepExecutor } from './types.js';

/** Runs a Set variable step. */
export const setVariable: StepExecutor = async (ctx) => {
  const name = setting(ctx.settings, 'VariableName').trim();
  if (!isValidVariableName(name)) return failed(`VariableName "${String(name).slice(0, 80)}" is not a variable name (non-empty, no spaces, "%" or "=")`);
  const value = setting(ctx.settings, 'VariableValue');
  const secret = setting(ctx.settings, 'Secret').toLowerCase() === 'true';
  ctx.variables.set(name, value, { secret });
  ctx.say(`${name} = ${ctx.variables.isSecret(name) ? '********' : value}`);
  return { status: 'succeeded', exitCode: 0 };
};
