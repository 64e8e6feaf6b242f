// Server-side scripts: runs a script from the content library's Scripts folder and reads the {name, value} objects it prints.

import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdtemp, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, extname, join, sep } from 'node:path';
import { DeployrError } from '../domain/errors.js';
import { psCallScript, shCallScript } from '../domain/script-quoting.js';
import { isValidVariableName } from '../domain/variables.js';
import { outputTail } from '../domain/run.js';

/** A script name: a plain file name in the Scripts folder, never a path. */
export const SCRIPT_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._ -]*$/;

/** Default time a server-side script may run. */
export const DEFAULT_SCRIPT_TIMEOUT_MS = 300_000;

/** Most output read from each stream of a script, in bytes. */
const MAX_CAPTURE_BYTES = 1024 * 1024;

/** What a server-side script gave back. */
export interface ServerScriptResult {
  /** Null when it was stopped (timeout) or killed by a signal. */
  exitCode: number | null;
  /** The `{name, value}` objects it printed, one JSON object (or array of them) per line. */
  variables: { name: string; value: string }[];
  /** The end of its other output: standard output lines that were not variables, then standard error. */
  output: string;
  timedOut: boolean;
}

/** How to run one script. */
export interface ServerScriptOptions {
  /** The Scripts folder (`<home>/content/Scripts`). */
  scriptsDir: string;
  timeoutMs?: number;
  /** Extra environment variables (the script gets only these, PATH, HOME, LANG and TMPDIR). */
  env?: Record<string, string>;
}

/** Finds an executable on PATH, or null. */
export async function findOnPath(name: string, path = process.env.PATH ?? ''): Promise<string | null> {
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

/** Resolves `name` inside the Scripts folder; refuses anything that is not a plain file there. */
async function resolveScript(scriptsDir: string, name: string): Promise<string> {
  if (!SCRIPT_NAME_PATTERN.test(name) || name.includes('..')) {
    throw new DeployrError('INVALID_INPUT', 'The name given is not a script name: use a file name from the Scripts folder, without a path.');
  }
  let root: string;
  let file: string;
  try {
    root = await realpath(scriptsDir);
    file = await realpath(join(scriptsDir, name));
  } catch {
    throw new DeployrError('NOT_FOUND', "The content library's Scripts folder has no server-side script of the name given.");
  }
  if (!file.startsWith(root + sep) || !(await stat(file)).isFile()) {
    throw new DeployrError('NOT_FOUND', "The content library's Scripts folder has no server-side script of the name given.");
  }
  return file;
}

/**
 * The command line for a script: `.sh` through /bin/sh, `.ps1` through pwsh, anything else run
 * directly. Arguments (which may hold the values of secret variables) never go on a command line:
 * they are written with the call into a wrapper script in `privateDir` (a fresh 0700 folder; the
 * file is 0600), which the shell or pwsh runs; a program that is not a script takes no arguments.
 */
async function commandFor(file: string, name: string, args: readonly string[], privateDir: () => Promise<string>): Promise<[string, string[]]> {
  const ext = extname(file).toLowerCase();
  const wrapper = async (fileName: string, text: string): Promise<string> => {
    const path = join(await privateDir(), fileName);
    await writeFile(path, text, { mode: 0o600, flag: 'wx' });
    return path;
  };
  if (ext === '.sh') return ['/bin/sh', [args.length === 0 ? file : await wrapper('call.sh', shCallScript(file, args))]];
  if (ext === '.ps1') {
    const pwsh = await findOnPath('pwsh');
    if (!pwsh) throw new DeployrError('UNAVAILABLE', `The server-side script "${name}" is PowerShell, but PowerShell 7 (pwsh) is not installed on the server.`);
    return [pwsh, ['-NoLogo', '-NoProfile', '-NonInteractive', '-File', args.length === 0 ? file : await wrapper('call.ps1', psCallScript(file, args))]];
  }
  try {
    await access(file, fsConstants.X_OK);
  } catch {
    throw new DeployrError('CONFLICT', `The server-side script "${name}" is not executable (use .sh, .ps1 or an executable file).`);
  }
  if (args.length > 0) {
    throw new DeployrError('CONFLICT', `The server-side script "${name}" is a program, which takes no parameters (they would show in the server's process list); use a .sh or .ps1 script to take them.`);
  }
  return [file, []];
}

/** Reads `{name, value}` objects (or an array of them) from one line; null when the line is not one. */
export function parseVariableLine(line: string): { name: string; value: string }[] | null {
  const text = line.trim();
  if (!text.startsWith('{') && !text.startsWith('[')) return null;
  let json: unknown;
  try { json = JSON.parse(text); } catch { return null; }
  const items = Array.isArray(json) ? json : [json];
  const out: { name: string; value: string }[] = [];
  for (const item of items) {
    if (typeof item !== 'object' || item === null) return null;
    const rec = item as Record<string, unknown>;
    const name = rec['name'] ?? rec['Name'];
    const value = rec['value'] ?? rec['Value'];
    if (!isValidVariableName(name)) return null;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return null;
    out.push({ name, value: String(value) });
  }
  return out.length > 0 ? out : null;
}

/**
 * Runs the script `name` from the Scripts folder with `args`, under a timeout (the whole process
 * group is killed when it passes). Throws INVALID_INPUT / NOT_FOUND for a bad or missing name,
 * UNAVAILABLE when a .ps1 script needs pwsh and it is not installed, CONFLICT for a program that is
 * not executable or is given arguments. `args` reach the script through a wrapper script file, never
 * a command line (see `commandFor`).
 */
export async function runServerScript(name: string, args: readonly string[], options: ServerScriptOptions): Promise<ServerScriptResult> {
  const file = await resolveScript(options.scriptsDir, name);
  let dir: string | null = null;
  const privateDir = async (): Promise<string> => (dir ??= await mkdtemp(join(tmpdir(), 'deployr-script-')));
  try {
    return await runScript(name, await commandFor(file, name, args, privateDir), options);
  } finally {
    if (dir !== null) await rm(dir, { recursive: true, force: true });
  }
}

/** Runs the script's command line and collects what it printed. */
function runScript(name: string, [command, args]: [string, string[]], options: ServerScriptOptions): Promise<ServerScriptResult> {
  const env: Record<string, string> = { ...options.env };
  for (const key of ['PATH', 'HOME', 'LANG', 'TMPDIR', 'SystemRoot', 'TEMP', 'TMP']) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_SCRIPT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.scriptsDir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: process.platform !== 'win32', windowsHide: true,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    child.stdout.on('data', (d: Buffer) => { if (outBytes < MAX_CAPTURE_BYTES) { stdout.push(d); outBytes += d.length; } });
    child.stderr.on('data', (d: Buffer) => { if (errBytes < MAX_CAPTURE_BYTES) { stderr.push(d); errBytes += d.length; } });
    let timedOut = false;
    const kill = (): void => {
      try {
        if (process.platform !== 'win32' && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch { /* already gone */ }
    };
    const timer = setTimeout(() => { timedOut = true; kill(); }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new DeployrError('UNAVAILABLE', `The server-side script "${name}" could not be started (${(err as NodeJS.ErrnoException).code ?? 'error'}).`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const variables: { name: string; value: string }[] = [];
      const rest: string[] = [];
      for (const line of Buffer.concat(stdout).toString('utf8').split(/\r?\n/)) {
        const parsed = parseVariableLine(line);
        if (parsed) variables.push(...parsed);
        else if (line.trim() !== '') rest.push(line);
      }
      const errText = Buffer.concat(stderr).toString('utf8').trimEnd();
      if (errText) rest.push(errText);
      if (timedOut) rest.push(`(stopped after ${Math.round(timeoutMs / 1000)} s)`);
      resolve({ exitCode: timedOut ? null : code, variables, output: outputTail(rest.join('\n'), 8000), timedOut });
    });
  });
}
