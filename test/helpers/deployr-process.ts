// Test helpers: run the real `deployr` executable (service, configuration tool, client) as child processes on loopback.

import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled entry point. */
export const DEPLOYR_BIN = fileURLToPath(new URL('../../src/bin/deployr.js', import.meta.url));
/** The repository root (for fixtures). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The real DeployR exports. */
export const EXPORTS_DIR = join(REPO_ROOT, 'test', 'fixtures', 'deployr-exports');

/** The result of a finished command. */
export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A fresh, empty home folder, removed by `cleanup`. */
export function tempHome(prefix = 'deployr-test-'): { home: string; cleanup(): void } {
  const home = mkdtempSync(join(tmpdir(), prefix));
  return { home, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

/** Runs `deployr ARGS` to completion with `input` on standard input (no terminal). */
export function runDeployr(args: string[], options: { home?: string; input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CommandResult> {
  // A client run never touches the real ~/.deployr-client unless a test asks for a state folder itself.
  const ownState = args[0] === 'client' && !args.includes('--state-dir') && options.env?.DEPLOYR_CLIENT_STATE === undefined
    ? mkdtempSync(join(tmpdir(), 'deployr-client-state-')) : null;
  return new Promise<CommandResult>((resolve, reject) => {
    const child = spawn(process.execPath, [DEPLOYR_BIN, ...args], {
      env: { ...process.env, ...(options.home ? { DEPLOYR_HOME: options.home } : {}), ...(ownState ? { DEPLOYR_CLIENT_STATE: ownState } : {}), ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`deployr ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`)); }, options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.end(options.input ?? '');
  }).finally(() => { if (ownState) rmSync(ownState, { recursive: true, force: true }); });
}

/** A running `deployr serve` child process. */
export interface ServiceProcess {
  home: string;
  port: number;
  localPort: number;
  /** `https://127.0.0.1:PORT` */
  url: string;
  /** The service's certificate file (self-signed), for `--ca`. */
  caFile: string;
  fingerprint: string;
  child: ChildProcess;
  /** Everything it wrote so far (logs and banner). */
  output(): string;
  /** Stops it with SIGTERM and waits for the exit. */
  stop(): Promise<number | null>;
  /** Kills it with SIGKILL and waits. */
  kill(): Promise<void>;
}

/** Services this test file started and has not seen exit: killed when the file's process ends, however it ends. */
const liveServices = new Set<ChildProcess>();
let exitHookInstalled = false;

/** SIGKILLs every service this process started that is still running. */
export function killStartedServices(): void {
  for (const child of liveServices) child.kill('SIGKILL');
}

/** Kills every live service when this process exits or is told to stop, so a test that times out leaves no server behind. */
function killLiveServicesOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', killStartedServices);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => { killStartedServices(); process.kill(process.pid, signal); });
  }
}

/** Starts `deployr serve` on random loopback ports and waits until it accepts connections (30 s unless `startTimeoutMs`). */
export async function startService(options: { home: string; env?: Record<string, string>; args?: string[]; startTimeoutMs?: number }): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [DEPLOYR_BIN, 'serve', '--home', options.home, '--port', '0', '--local-port', '0', '--host', '127.0.0.1', ...(options.args ?? [])], {
    env: { ...process.env, DEPLOYR_SETTINGS_POLL_MS: '200', DEPLOYR_LOG_LEVEL: 'info', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killLiveServicesOnExit();
  liveServices.add(child);
  child.on('exit', () => liveServices.delete(child));
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  for (;;) {
    const port = /HTTPS API:\s+https:\/\/localhost:(\d+)/.exec(out)?.[1];
    const localPort = /Local admin:\s+http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1];
    const fingerprint = /SHA-256 fingerprint: ([0-9A-F:]+)/.exec(out)?.[1];
    const caFile = /TLS certificate[^:]*: (\S+)/.exec(out)?.[1];
    if (port && localPort && fingerprint && caFile) {
      return {
        home: options.home, port: Number(port), localPort: Number(localPort), url: `https://127.0.0.1:${port}`, caFile, fingerprint, child,
        output: () => out,
        stop: async () => { if (child.exitCode === null) child.kill('SIGTERM'); return exited; },
        kill: async () => { if (child.exitCode === null) child.kill('SIGKILL'); await exited; },
      };
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`deployr serve did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Sets the passcode through the real configuration tool (two lines on standard input). */
export async function setPasscode(home: string, passcode: string, verify = passcode): Promise<CommandResult> {
  return runDeployr(['configure', 'security', '--passcode'], { home, input: `${passcode}\n${verify}\n` });
}

/** Waits until `check` is true, polling every 50 ms, failing after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The settings revision a running service applies (from its local status endpoint). */
export function appliedRevision(localPort: number): Promise<number> {
  return new Promise((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port: localPort, path: '/v1/local/status' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8')));
      res.on('end', () => resolve((JSON.parse(body) as { appliedRevision: number }).appliedRevision));
    }).on('error', reject).end();
  });
}

/**
 * Runs `deployr configure security ARGS` (with `input` on standard input), fails on a non-zero
 * exit, and waits until `service` (when given) applies the saved revision.
 */
export async function configureSecurityAndWait(home: string, service: ServiceProcess | null | undefined, args: string[], input = ''): Promise<void> {
  const r = await runDeployr(['configure', 'security', ...args], { home, input });
  if (r.code !== 0) throw new Error(`deployr configure security ${args.join(' ')} failed: ${r.stderr}`);
  const revision = Number(/revision (\d+)/.exec(r.stdout)?.[1]);
  if (service) await waitFor(async () => (await appliedRevision(service.localPort)) >= revision, 10_000, `revision ${revision} applied`);
}
