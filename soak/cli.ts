// Runs the real `deployr` configuration tool for the soak: standard input for secrets, and every child tracked so a kill -9 can take them too.

import { spawn, type ChildProcess } from 'node:child_process';
import { DEPLOYR_BIN, startService, type ServiceProcess } from '../test/helpers/deployr-process.js';

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

/** Services this process started and has not seen exit, so an interrupted soak leaves none behind. */
const services = new Set<ChildProcess>();

/** Starts `deployr serve` like the tests do, and remembers it until it exits. */
export async function startSoakService(options: Parameters<typeof startService>[0]): Promise<ServiceProcess> {
  // A loaded machine can take long to start a service: the soak measures invariants, not start times.
  const svc = await startService({ startTimeoutMs: 180_000, ...options });
  services.add(svc.child);
  svc.child.on('exit', () => services.delete(svc.child));
  return svc;
}

/** SIGKILLs every command and service still running (on SIGINT or SIGTERM of the soak). */
export function killEverything(): void {
  killRunningCommands();
  for (const c of services) if (c.exitCode === null) c.kill('SIGKILL');
}
