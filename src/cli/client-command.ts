// The `client` command (the machine side), shared by `deployr` and the stand-alone client that a server hands out (`deployr-client`).

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ClientError } from '../client/api-client.js';
import { createPrompter } from '../client/prompt.js';
import { parseServerList } from '../client/server-list.js';
import { DEFAULT_PATIENCE_MS, runClient, variable } from '../client/run-client.js';
import { isSecretVariableName } from '../domain/variables.js';
import { commandExit, parseDuration } from './output.js';
import { describeForMessage } from '../domain/input-description.js';

/**
 * Turns the `--var NAME=VALUE` options into variables. Runs inside the command, so that a bad one
 * is a one-line error; its value is never quoted back (it may be a secret typed without its name).
 */
function parseVarOptions(values: string[]): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq <= 0) throw new ClientError('INPUT', '--var takes NAME=VALUE, and one of them has no NAME= before its value.');
    vars[value.slice(0, eq)] = value.slice(eq + 1);
  }
  return vars;
}

/**
 * Reads variables from a JSON object or NAME=VALUE lines. Errors never quote the file: it may hold
 * the passcode (a JSON parser's message shows the text around the fault).
 */
function readVarsFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ClientError('INPUT', `--vars ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
  if (text.trim().startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ClientError('INPUT', `--vars ${file}: it starts with "{" but is not valid JSON; use a JSON object of strings or NAME=VALUE lines.`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ClientError('INPUT', `--vars ${file}: the JSON must be an object of NAME: VALUE pairs.`);
    }
    return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)]));
  }
  const vars: Record<string, string> = {};
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    if (!line.trim() || line.trim().startsWith('#')) continue;
    const eq = line.indexOf('=');
    // Named by file and line, never quoted (the line may be the passcode with its NAME= forgotten).
    if (eq <= 0 || !line.slice(0, eq).trim()) throw new ClientError('INPUT', `--vars ${file}: line ${index + 1} is not NAME=VALUE (nor empty, nor a # comment).`);
    vars[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return vars;
}

/** `--patience` / DEPLOYR_CLIENT_PATIENCE as milliseconds (default 10 min); a bad value is a one-line INPUT error. */
function patienceMs(flag: string | undefined, env: string | undefined): number {
  const text = flag ?? env;
  if (text === undefined || text.trim() === '') return DEFAULT_PATIENCE_MS;
  try { return parseDuration(text) * 1000; } catch {
    throw new ClientError('INPUT', `${flag !== undefined ? '--patience' : 'DEPLOYR_CLIENT_PATIENCE'} takes a duration such as 90s, 10m or 1h (0 = do not wait), not the value given (${describeForMessage(text)}).`);
  }
}

/**
 * The servers: every `--server` (each one address or several separated by commas), else
 * DEPLOYRHOST (likewise). Checked before anything is sent; a bad entry is a one-line INPUT error.
 */
function serverList(flags: string[], env: string | undefined): string[] {
  if (flags.length > 0) return parseServerList(flags, '--server').map((u) => u.origin);
  if (env !== undefined && env.trim() !== '') return parseServerList([env], 'DEPLOYRHOST').map((u) => u.origin);
  throw new ClientError('INPUT', 'Give the server with --server https://HOST:7281 (several: repeat it, or separate them with commas), or set DEPLOYRHOST.');
}

/** Adds `client` to `program`: sign in, choose a task sequence (or take --ts), run it. */
export function registerClientCommand(program: Command): void {
  program.command('client')
    .description('the machine side: sign in, choose a task sequence (or take --ts), run it')
    .option('--server <url>', 'the service, e.g. https://deployr.contoso.com:7281; several (repeat it, or separate them with commas) are tried in order, moving to the next when one stops answering (default: $DEPLOYRHOST)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--ca <file>', 'trust this CA or certificate (e.g. the service\'s tls/server.crt)')
    .option('--fingerprint <sha256>', 'trust the server certificate with this SHA-256 fingerprint')
    .option('--ts <id[:version]>', 'the task sequence to run (skips the chooser)')
    .option('--var <name=value>', 'a task sequence variable (repeatable); prefer --vars or DEPLOYR_VAR_<NAME> for secrets', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--vars <file>', 'variables from a JSON object or NAME=VALUE lines')
    .option('--fullos', 'start in an installed OS (passcode via the Passcode variable, certificate authentication)')
    .option('--device-id <id>', 'an id for this device (audit, throttling)')
    .option('--cert <file>', 'client certificate (PEM) for certificate authentication')
    .option('--key <file>', 'its private key (PEM)')
    .option('--pfx <file>', 'client certificate and key as PKCS#12; the password from DEPLOYR_PFX_PASSWORD')
    .option('--state-dir <dir>', 'run state, logs and content cache (default: $DEPLOYR_CLIENT_STATE or ~/.deployr-client)')
    .option('--new-run', 'discard a saved (unfinished) run instead of resuming it')
    .option('--secret <name>', 'treat this variable as secret: never printed, logged, uploaded or saved (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--allow-power-actions', 'allow restarting or shutting down this machine (FinishAction, Reboot steps)')
    .option('--patience <duration>', 'how long to keep retrying an unreachable server during a run (default 10m; 0 = not at all; env DEPLOYR_CLIENT_PATIENCE)')
    .option('--boot', 'boot environment: wait for the server while it cannot be reached, and honour FinishAction and Reboot steps without asking')
    .action(async (flags: { boot?: boolean; server: string[]; ca?: string; fingerprint?: string; ts?: string; var: string[]; vars?: string; fullos?: boolean; deviceId?: string; cert?: string; key?: string; pfx?: string; stateDir?: string; newRun?: boolean; secret: string[]; allowPowerActions?: boolean; patience?: string }) => {
      await commandExit(async () => {
        // Two trust anchors would mean one is silently ignored (the fingerprint would win): refused.
        if (flags.ca && flags.fingerprint) throw new ClientError('INPUT', 'Give --ca FILE or --fingerprint SHA256, not both: each alone says which server certificate to trust.');
        const servers = serverList(flags.server, process.env.DEPLOYRHOST);
        const patience = patienceMs(flags.patience, process.env.DEPLOYR_CLIENT_PATIENCE);
        const fromEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('DEPLOYR_VAR_')).map(([k, v]) => [k.slice('DEPLOYR_VAR_'.length), v ?? '']));
        const fromOptions = parseVarOptions(flags.var);
        const variables = { ...fromEnv, ...(flags.vars ? readVarsFile(flags.vars) : {}), ...fromOptions };
        // A command line is visible to every local user (ps, /proc): say so, naming the variable only.
        for (const name of Object.keys(fromOptions).filter((n) => isSecretVariableName(n, flags.secret))) {
          process.stderr.write(`warning: the secret variable ${name} was given with --var, where other users of this machine can see it (ps); pass it with DEPLOYR_VAR_${name} or --vars FILE instead.\n`);
        }
        // A serial console reports no size (0 columns): prompts would wrap after every character.
        if (flags.boot && process.stdout.isTTY && !process.stdout.columns) Object.assign(process.stdout, { columns: 80, rows: 24 });
        const prompter = createPrompter();
        try {
          return await runClient({
            servers, fullos: Boolean(flags.fullos), variables,
            ...(flags.ca ? { caFile: flags.ca } : {}), ...(flags.fingerprint ? { fingerprint: flags.fingerprint } : {}),
            ...(flags.ts ?? variable(variables, 'TSID') ? { ts: (flags.ts ?? variable(variables, 'TSID')) as string } : {}),
            ...(flags.deviceId ? { deviceId: flags.deviceId } : {}), ...(flags.cert ? { certFile: flags.cert } : {}), ...(flags.key ? { keyFile: flags.key } : {}),
            ...(flags.pfx ? { pfxFile: flags.pfx } : {}), ...(process.env.DEPLOYR_PFX_PASSWORD ? { pfxPassword: process.env.DEPLOYR_PFX_PASSWORD } : {}),
            ...(flags.stateDir ? { stateDir: flags.stateDir } : {}), newRun: Boolean(flags.newRun), secretNames: flags.secret, allowPowerActions: Boolean(flags.allowPowerActions || flags.boot),
            patienceMs: patience,
            waitForServer: Boolean(flags.boot),
            // Boot environment: /init read the firmware's SecureBoot variable (on | off | not-uefi).
            ...(flags.boot && process.env.DEPLOYR_SECURE_BOOT ? { secureBoot: process.env.DEPLOYR_SECURE_BOOT } : {}),
          }, {
            prompter, out: (line) => process.stdout.write(line + '\n'),
            terminal: { isTTY: Boolean(process.stdout.isTTY), write: (text) => process.stdout.write(text), get columns() { return process.stdout.columns; }, get rows() { return process.stdout.rows; } },
          });
        } finally {
          prompter.close();
        }
      });
    });
}
