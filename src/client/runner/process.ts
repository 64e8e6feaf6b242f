// Runs a step's child process: a shell command line or a program with arguments, with a timeout, streaming its output.

import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** How a process ended. */
export interface ProcessResult {
  /** Null when it was stopped (timeout, abort) or killed by a signal. */
  exitCode: number | null;
  timedOut: boolean;
  aborted: boolean;
}

/** What to run and how. */
export interface ProcessOptions {
  cwd?: string;
  env: NodeJS.ProcessEnv;
  /** Milliseconds; none when absent or 0. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Receives standard output and standard error as they come. */
  onOutput(chunk: string): void;
}

/** How long a stopped step's processes have to end after SIGTERM before they get SIGKILL, in milliseconds. */
export const ABORT_GRACE_MS = 5000;

/**
 * The script file and the shell that runs a command line: `/bin/sh FILE`, or on Windows
 * `cmd.exe /d /s /c ""FILE""` for a `.cmd` file that starts with `@echo off`.
 */
export function shellScript(command: string, dir: string, windows = process.platform === 'win32'): { file: string; text: string; shell: string; args: string[] } {
  if (windows) {
    const file = join(dir, 'command.cmd');
    return { file, text: `@echo off\r\n${command}\r\n`, shell: process.env.ComSpec ?? 'cmd.exe', args: ['/d', '/s', '/c', `""${file}""`] };
  }
  const file = join(dir, 'command.sh');
  return { file, text: `${command}\n`, shell: '/bin/sh', args: [file] };
}

/**
 * Runs `command` through the system shell. The command line (which may hold the values of secret
 * variables) is never a process argument: it is written to a script file, mode 0600 in a fresh
 * 0700 folder, that the shell reads (see `shellScript`); the folder is removed when the process ends.
 */
export async function runShell(command: string, options: ProcessOptions): Promise<ProcessResult> {
  const dir = await mkdtemp(join(tmpdir(), 'deployr-command-'));
  try {
    const script = shellScript(command, dir);
    await writeFile(script.file, script.text, { mode: 0o600, flag: 'wx' });
    return await run(script.shell, script.args, { ...options, label: 'the command', verbatim: process.platform === 'win32' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs `file` with `args` directly (no shell). */
export function runProgram(file: string, args: readonly string[], options: ProcessOptions): Promise<ProcessResult> {
  return run(file, args, options);
}

function run(command: string, args: readonly string[], options: ProcessOptions & { label?: string; verbatim?: boolean }): Promise<ProcessResult> {
  return new Promise((resolve) => {
    const detached = process.platform !== 'win32';
    const child = spawn(command, [...args], {
      cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached, windowsHide: true,
      windowsVerbatimArguments: options.verbatim === true,
    });
    let timedOut = false;
    let aborted = false;
    let settled = false;
    const kill = (signal: NodeJS.Signals = 'SIGKILL'): void => {
      try {
        if (detached && child.pid !== undefined) process.kill(-child.pid, signal);
        else child.kill(signal);
      } catch { /* already gone */ }
    };
    const timer = options.timeoutMs ? setTimeout(() => { timedOut = true; kill(); }, options.timeoutMs) : null;
    // Stopped from outside (Ctrl-C, SIGTERM): the step's whole process group gets SIGTERM, to end
    // cleanly, and SIGKILL when it has not ended ABORT_GRACE_MS later.
    let graceTimer: NodeJS.Timeout | null = null;
    const onAbort = (): void => {
      aborted = true;
      kill('SIGTERM');
      graceTimer = setTimeout(() => kill('SIGKILL'), ABORT_GRACE_MS);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => options.onOutput(d));
    child.stderr.on('data', (d: string) => options.onOutput(d));
    const done = (exitCode: number | null): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      if (graceTimer) clearTimeout(graceTimer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ exitCode: timedOut || aborted ? null : exitCode, timedOut, aborted });
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      options.onOutput(`cannot start ${options.label ?? command}: ${err.code ?? err.message}\n`);
      done(null);
    });
    child.on('close', (code) => done(code));
  });
}

/** Finds an executable on PATH, or null. */
export async function findExecutable(name: string, path = process.env.PATH ?? ''): Promise<string | null> {
  const exts = process.platform === 'win32' ? ['.exe', '.cmd', ''] : [''];
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const candidate = join(dir, name + ext);
      try {
        await access(candidate, fsConstants.X_OK);
        if ((await stat(candidate)).isFile()) return candidate;
      } catch { /* not here */ }
    }
  }
  return null;
}

/**
 * Splits a parameter string into arguments: whitespace separates, single or double quotes group
 * (no escapes inside single quotes; `\"` inside double quotes).
 */
export function splitArguments(text: string): string[] {
  const out: string[] = [];
  let current = '';
  let has = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charAt(i);
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && text.charAt(i + 1) === '"') { current += '"'; i++; }
      else current += ch;
    } else if (ch === '"' || ch === "'") { quote = ch; has = true; }
    else if (/\s/.test(ch)) { if (has) { out.push(current); current = ''; has = false; } }
    else { current += ch; has = true; }
  }
  if (has) out.push(current);
  return out;
}

/** Parses a `Timeout` setting in minutes (decimals allowed) into milliseconds; 0 for none. Throws on a bad value. */
export function timeoutFromMinutes(value: string | undefined): number {
  if (value === undefined || value.trim() === '' || value.trim() === '0') return 0;
  const n = Number(value.trim());
  if (!Number.isFinite(n) || n < 0) throw new Error(`Timeout must be a number of minutes, not "${value}"`);
  return Math.round(n * 60_000);
}

/** Parses success exit codes ("0 3010", "0,1") into a set; `fallback` when empty. Throws on a bad value. */
export function successCodes(value: string | undefined, fallback: readonly number[]): Set<number> {
  if (value === undefined || value.trim() === '') return new Set(fallback);
  const codes = value.split(/[\s,;]+/).filter(Boolean).map(Number);
  if (codes.some((c) => !Number.isInteger(c))) throw new Error(`SuccessCodes must be whole numbers separated by spaces or commas, not "${value}"`);
  return new Set(codes);
}
