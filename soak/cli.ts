// Runs the real `deployr` configuration tool for the soak: standard input for secrets, and every child tracked so a kill -9 can take them too.

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEPLOYR_BIN, killStartedServices, startService, type ServiceProcess } from '../test/helpers/deployr-process.js';

/** How a command ended: its exit code (null when killed) and output. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Children of `deployr` still running, so the kill phase can SIGKILL them with the service. */
export const runningCommands = new Set<ChildProcess>();

/** Runs `deployr ARGS` on `home` with `input` on standard input (never argv); `timeoutMs` kills it. */
export function deployr(home: string, args: string[], input = '', timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DEPLOYR_BIN, ...args], { env: { ...process.env, DEPLOYR_HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] });
    runningCommands.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => { stderr += e.message; });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      runningCommands.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => { /* killed before it read its input */ });
    child.stdin.end(input);
  });
}

/** SIGKILLs every `deployr` command still running (those this process started). */
export function killRunningCommands(): void {
  for (const c of runningCommands) if (c.exitCode === null) c.kill('SIGKILL');
}

/** Starts `deployr serve` like the tests do (the helper tracks it until it exits: `killEverything` reaches it). */
export function startSoakService(options: Parameters<typeof startService>[0]): Promise<ServiceProcess> {
  // A loaded machine can take long to start a service: the soak measures invariants, not start times.
  return startService({ startTimeoutMs: 180_000, ...options });
}

/** SIGKILLs every command and service still running (on SIGINT or SIGTERM of the soak). */
export function killEverything(): void {
  killRunningCommands();
  killStartedServices();
}

/**
 * Stops `svc` with SIGTERM and returns the invariants its end broke (none when it is fine): it must
 * exit 0, and it must not have printed a Node.js process warning (`MaxListenersExceededWarning` and
 * the like: a listener or resource piling up). When one broke, everything it printed is written to
 * `service-output.log` in its home (kept when the soak fails); `what` names the service.
 */
export async function stopCleanly(svc: ServiceProcess, what: string): Promise<string[]> {
  const code = await svc.stop();
  const output = svc.output();
  const warnings = new Map<string, number>();
  for (const m of output.matchAll(/\(node:\d+\) (\w*Warning)\b/g)) warnings.set(m[1] as string, (warnings.get(m[1] as string) ?? 0) + 1);
  if (code === 0 && warnings.size === 0) return [];
  const file = join(svc.home, 'service-output.log');
  writeFileSync(file, output, { mode: 0o600 });
  const broken: string[] = [];
  if (code !== 0) broken.push(`${what} did not stop cleanly (exit ${code}; last line: ${JSON.stringify(output.trimEnd().split('\n').pop()?.slice(0, 300) ?? '')}; all of its output in ${file})`);
  if (warnings.size > 0) broken.push(`${what} printed Node.js warnings: ${[...warnings].map(([name, n]) => `${n} × ${name}`).join(', ')} (its output is in ${file})`);
  return broken;
}
