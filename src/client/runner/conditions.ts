// Step conditions at run time: JSON queries against the variables, PowerShell expressions through pwsh where it is installed.

import { evaluateQuery, parseCondition } from '../../domain/condition.js';
import type { VariableStore } from '../../domain/variables.js';
import type { ProcessResult } from './process.js';

/** Whether a step runs: yes, no (with the reason), or the condition could not be evaluated. */
export type ConditionVerdict = { run: true } | { run: false; reason: string } | { error: string };

/** What evaluating a PowerShell condition needs. */
export interface PowerShellHost {
  findExecutable(name: string): Promise<string | null>;
  runProgram(file: string, args: readonly string[], onOutput: (chunk: string) => void): Promise<ProcessResult>;
}

/** Exit codes of the wrapper around a PowerShell condition. */
const PS_TRUE = 10;
const PS_FALSE = 11;

/**
 * The script that evaluates a PowerShell condition: true when the expression returns output other
 * than a single $false (DeployR runs the step "when the expression returns output or $true").
 */
export function powerShellConditionScript(expression: string): string {
  return [
    "$ErrorActionPreference = 'Stop'",
    `$r = @(& { ${expression} })`,
    `if ($r.Count -eq 0 -or ($r.Count -eq 1 -and ($r[0] -is [bool]) -and -not $r[0])) { exit ${PS_FALSE} } else { exit ${PS_TRUE} }`,
  ].join('\n');
}

/** Evaluates a step's condition. */
export async function evaluateStepCondition(condition: string | null, variables: VariableStore, host: PowerShellHost): Promise<ConditionVerdict> {
  let parsed;
  try {
    parsed = parseCondition(condition);
  } catch (err) {
    return { error: `the condition is not valid: ${(err as Error).message}` };
  }
  switch (parsed.kind) {
    case 'always':
      return { run: true };
    case 'query':
      return evaluateQuery(parsed.query, variables) ? { run: true } : { run: false, reason: 'condition not met' };
    case 'powershell': {
      const pwsh = await host.findExecutable('pwsh');
      if (!pwsh) return { error: 'the condition is a PowerShell expression, and PowerShell 7 (pwsh) is not installed on this machine' };
      let output = '';
      const result = await host.runProgram(pwsh, ['-NoLogo', '-NoProfile', '-NonInteractive', '-Command', powerShellConditionScript(parsed.expression)], (c) => { output += c; });
      if (result.exitCode === PS_TRUE) return { run: true };
      if (result.exitCode === PS_FALSE) return { run: false, reason: 'PowerShell condition returned nothing or $false' };
      const first = output.trim().split('\n')[0] ?? '';
      return { error: `the PowerShell condition failed (exit code ${result.exitCode ?? 'none'})${first ? `: ${first.slice(0, 200)}` : ''}` };
    }
  }
}
