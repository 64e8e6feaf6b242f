// `deployr client`: connect, sign in, choose a task sequence (or take the one named, or resume the saved run), and run it.

import { readFileSync } from 'node:fs';
import { PATHS, type TaskSequenceList, type TaskSequenceSummary } from '../api/contract.js';
import { ApiClient, ClientError, type ServerTrust } from './api-client.js';
import { signIn } from './authenticate.js';
import type { Prompter } from './prompt.js';
import type { PowerActuator } from './runner/power.js';
import { RunReporter } from './runner/reporter.js';
import { TokenKeeper } from './runner/token-keeper.js';
import { resumeRun, startRun } from './runner/run-session.js';
import { clearState, deviceId, loadState, resolveStateDir, statePaths } from './runner/state.js';
import { readDeviceInfo } from './device-info.js';
import type { UiOutput } from './terminal-ui.js';

/** The client's options (from the command line and environment). */
export interface ClientOptions {
  /** The servers in the order to try them: addresses, or lists of them separated by commas (`--server`, DEPLOYRHOST). */
  servers: string[];
  caFile?: string;
  fingerprint?: string;
  /** `ID` or `ID:VERSION`. */
  ts?: string;
  fullos: boolean;
  /** Task sequence variables: `--var`, `--vars FILE`, `DEPLOYR_VAR_<NAME>`. */
  variables: Record<string, string>;
  deviceId?: string;
  certFile?: string;
  keyFile?: string;
  pfxFile?: string;
  /** PFX password: read from DEPLOYR_PFX_PASSWORD, never a command-line value. */
  pfxPassword?: string;
  sleep?: (ms: number) => Promise<void>;
  /** Where the run state, logs and content cache live (default `$DEPLOYR_CLIENT_STATE` or `~/.deployr-client`). */
  stateDir?: string;
  /** Discard a saved run instead of resuming it. */
  newRun?: boolean;
  /** Names of further variables whose values are secret (`--secret NAME`). */
  secretNames?: string[];
  /** Allow FinishAction Restart/Shutdown and the restart after a Reboot step. */
  allowPowerActions?: boolean;
  /** Carries out power actions (tests replace it). */
  power?: PowerActuator;
  /** How long to keep trying an unreachable server during a run, in milliseconds (`--patience`, DEPLOYR_CLIENT_PATIENCE; default 10 min). */
  patienceMs?: number;
  /** Boot environment: while the server cannot be reached (network not up yet, service not started), say so and try again. */
  waitForServer?: boolean;
  /** Boot environment: whether the firmware had Secure Boot on (`on`, `off`, `not-uefi`), recorded in the run's log. */
  secureBoot?: string;
}

/** Default of `--patience`: 10 minutes. */
export const DEFAULT_PATIENCE_MS = 10 * 60_000;

/** Where the client writes. */
export interface ClientIo {
  prompter: Prompter;
  out(line: string): void;
  /** Where the step list and progress bar go (a terminal redraws in place); default plain lines through `out`. */
  terminal?: UiOutput;
}

function readFileOrFail(file: string, what: string): Buffer {
  try { return readFileSync(file); } catch (err) {
    throw new ClientError('INPUT', `Cannot read ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
}

/** Builds the TLS trust and client certificate from the options. */
export function trustFromOptions(o: ClientOptions): ServerTrust {
  const trust: ServerTrust = {};
  if (o.caFile) trust.caPem = readFileOrFail(o.caFile, 'the CA file').toString('utf8');
  if (o.fingerprint) trust.fingerprint = o.fingerprint;
  if (o.pfxFile) trust.clientCert = { pfx: readFileOrFail(o.pfxFile, 'the PFX file'), ...(o.pfxPassword ? { passphrase: o.pfxPassword } : {}) };
  else if (o.certFile || o.keyFile) {
    if (!o.certFile || !o.keyFile) throw new ClientError('INPUT', '--cert and --key go together.');
    trust.clientCert = { cert: readFileOrFail(o.certFile, 'the certificate').toString('utf8'), key: readFileOrFail(o.keyFile, 'the key').toString('utf8') };
  }
  return trust;
}

/** The value of a variable, by case-insensitive name. */
export function variable(vars: Record<string, string>, name: string): string | null {
  const key = Object.keys(vars).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? null : (vars[key] ?? null);
}

/** Picks a task sequence: the one named with --ts / TSID, or the technician's choice. */
async function chooseTaskSequence(list: TaskSequenceSummary[], named: string | null, io: ClientIo): Promise<{ ts: TaskSequenceSummary; version: number }> {
  const runnable = (ts: TaskSequenceSummary, wanted: number | null): number | null => {
    const active = ts.versions.filter((v) => v.status === 'Active').map((v) => v.versionNo);
    if (wanted !== null) return active.includes(wanted) ? wanted : null;
    return active.length ? Math.max(...active) : null;
  };
  if (named) {
    const [id, ver] = named.split(':');
    const ts = list.find((t) => t.id.toLowerCase() === id?.toLowerCase());
    // Described, not quoted: the client's log goes to the server, and a mistyped argument may be a secret.
    if (!ts) throw new ClientError('INPUT', 'The task sequence named (--ts or TSID) is not on this server, or this sign-in may not use it; give its id as <guid> or <guid>:<version>.');
    const version = runnable(ts, ver === undefined ? null : Number(ver));
    if (version === null) throw new ClientError('INPUT', ver === undefined ? `Task sequence "${ts.name}" has no active version.` : `Task sequence "${ts.name}" has no active version ${ver}.`);
    return { ts, version };
  }
  const choices = list.filter((t) => runnable(t, null) !== null);
  if (choices.length === 0) throw new ClientError('INPUT', 'There are no task sequences with an active version on this server.');
  if (!io.prompter.interactive) {
    io.out('Task sequences:');
    choices.forEach((t, i) => io.out(`  ${i + 1}. ${t.name}  (${t.id})`));
  }
  for (;;) {
    const picked = io.prompter.interactive
      ? await io.prompter.choose('Choose a task sequence', choices.map((t) => ({ value: t.id, label: t.name, hint: t.description ?? undefined })) as { value: string; label: string; hint?: string }[])
      : await io.prompter.line('Task sequence (number or id):');
    if (picked === null) throw new ClientError('INPUT', 'No task sequence was chosen; stopping.');
    const byNumber = /^\d+$/.test(picked.trim()) ? choices[Number(picked.trim()) - 1] : undefined;
    const ts = byNumber ?? choices.find((t) => t.id.toLowerCase() === picked.trim().toLowerCase());
    if (ts) return { ts, version: runnable(ts, null) as number };
    io.out(`"${picked}" is not one of the task sequences listed; try again.`);
  }
}

/** The command that resumes the run (no secrets: variables are not repeated). */
function resumeCommand(o: ClientOptions, servers: URL[], stateDir: string): string {
  const q = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const parts = ['deployr client', '--server', q(servers.map((u) => u.origin).join(','))];
  if (o.caFile) parts.push('--ca', q(o.caFile));
  if (o.fingerprint) parts.push('--fingerprint', q(o.fingerprint));
  if (o.pfxFile) parts.push('--pfx', q(o.pfxFile));
  if (o.certFile && o.keyFile) parts.push('--cert', q(o.certFile), '--key', q(o.keyFile));
  parts.push('--state-dir', q(stateDir));
  return parts.join(' ');
}

/** Seconds between two tries while the server cannot be reached (`waitForServer`). */
export const SERVER_RETRY_SECONDS = 5;

/**
 * Connects and checks the server answers; in the boot environment an unreachable server (no
 * network yet, service not started) is reported and tried again (with several, each in turn). An
 * untrusted certificate is not retried: waiting does not make a wrong server the right one.
 */
async function connect(o: ClientOptions, io: ClientIo): Promise<ApiClient> {
  const api = await ApiClient.connect(o.servers, trustFromOptions(o));
  if (!o.waitForServer) { api.onServerChange(io.out); return api; }
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      // While waiting, the one line per attempt below names every server; moves are told only after the first attempt.
      api.onServerChange(attempt === 1 ? io.out : null);
      await api.call('GET', PATHS.health);
      api.onServerChange(io.out);
      if (attempt > 1) io.out(`The server ${api.baseUrl.origin} answers.`);
      return api;
    } catch (err) {
      if (!(err instanceof ClientError) || err.code !== 'UNREACHABLE') throw err;
      io.out(`Waiting for the server: ${err.message} Trying again in ${SERVER_RETRY_SECONDS} s (attempt ${attempt}).`);
      await sleep(SERVER_RETRY_SECONDS * 1000);
    }
  }
}

/** Whether `server` (a saved run's) is one of the servers given. */
function isOneOf(server: string, servers: URL[]): boolean {
  const origin = new URL(server).origin;
  return servers.some((u) => u.origin === origin);
}

/** Runs the client; returns the exit code. */
export async function runClient(o: ClientOptions, io: ClientIo): Promise<number> {
  // The task sequence's form is checked before anyone is asked for a passcode.
  const givenTs = o.ts ?? variable(o.variables, 'TSID');
  if (givenTs !== null && !/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(:[1-9][0-9]{0,8})?$/.test(givenTs.trim())) {
    throw new ClientError('INPUT', `${o.ts !== undefined ? '--ts' : 'The TSID variable'} must be a task sequence id, <guid> or <guid>:<version> (for example 8770d276-1c2b-4c1e-9d1a-2f7f4b5c6d7e:1); see deployr ts list on the server.`);
  }
  if (!o.fullos && variable(o.variables, 'Passcode') !== null) {
    io.out('Note: the Passcode variable is used only with --fullos (a task sequence started in an installed OS); at boot it is ignored and the passcode is asked for at the prompt.');
  }
  const api = await connect(o, io);
  const servers = api.servers;
  const paths = statePaths(resolveStateDir(o.stateDir));
  let saved = o.newRun ? await loadState(paths).catch(() => null) : await loadState(paths);
  const abandoned = o.newRun ? saved : null;
  if (o.newRun) { await clearState(paths); saved = null; }
  // A run lives in the store every server of the list shares: any of them may continue it.
  if (saved && !isOneOf(saved.server, servers)) {
    throw new ClientError('INPUT', `The state folder ${paths.root} holds a run on another server (${saved.server}); use another --state-dir, or --new-run to discard it.`);
  }
  const given = o.ts ?? variable(o.variables, 'TSID');
  if (saved && given && given.split(':')[0]?.toLowerCase() !== saved.taskSequenceId) {
    throw new ClientError('INPUT', `The state folder ${paths.root} holds an unfinished run of "${saved.name}" (${saved.taskSequenceId}); start without --ts to continue it, or with --new-run to discard it.`);
  }
  const named = saved ? `${saved.taskSequenceId}:${saved.versionNo}` : given;
  const fullos = saved ? saved.context === 'fullos' : o.fullos;
  const passcodeVariable = variable(o.variables, 'Passcode');
  if (fullos && !named) throw new ClientError('INPUT', 'A full-OS start needs the task sequence: --ts ID[:VERSION].');
  // The device id (given, kept in the state folder, or the saved run's) goes with every sign-in.
  const device = saved?.deviceId ?? await deviceId(paths, o.deviceId);
  const signInOptions = {
    context: fullos ? 'fullos' as const : 'boot' as const, passcodeVariable: fullos ? passcodeVariable : null,
    hasClientCertificate: Boolean(o.certFile || o.pfxFile), taskSequence: fullos ? named : null, deviceId: device,
    ...(o.sleep ? { sleep: o.sleep } : {}),
  };
  const session = await signIn(api, signInOptions, { prompter: io.prompter, say: io.out });
  // During the run the session is renewed only where no person is needed; otherwise the run stops with its state kept.
  const tokens = new TokenKeeper(session.token, async () => {
    const renewed = await signIn(api, { ...signInOptions, unattended: true }, { prompter: io.prompter, say: io.out });
    io.out(`The session expired; signed in again (${renewed.method}), valid until ${renewed.expiresAt}.`);
    return renewed.token;
  });
  io.out(`Signed in (${session.method}); the session is valid until ${session.expiresAt}.`);
  const sessionOptions = {
    // The server that answered the sign-in (DEPLOYRHOST, the run's log); later requests may move on.
    api, tokens, server: api.baseUrl.origin, context: fullos ? 'fullos' as const : 'boot' as const, paths, variables: o.variables,
    secretNames: o.secretNames ?? [], allowPowerActions: o.allowPowerActions === true, prompter: io.prompter, out: io.out,
    deviceId: device, ...(o.power ? { power: o.power } : {}), ...(io.terminal ? { terminal: io.terminal } : {}),
    deviceInfo: await readDeviceInfo(), resumeHint: resumeCommand(o, servers, paths.root),
    patience: { totalMs: o.patienceMs ?? DEFAULT_PATIENCE_MS, ...(o.sleep ? { sleep: o.sleep } : {}) },
    ...(o.secureBoot ? { secureBoot: o.secureBoot } : {}),
  };
  if (abandoned && isOneOf(abandoned.server, servers)) {
    await new RunReporter(api, tokens, io.out).finish(abandoned.runId, { status: 'failed', message: 'abandoned: the client was started again with --new-run' });
    io.out(`The unfinished run ${abandoned.runId} was abandoned (--new-run).`);
  }
  if (saved) return resumeRun(sessionOptions, saved);
  const { taskSequences } = await api.call<TaskSequenceList>('GET', PATHS.taskSequences, undefined, session.token);
  const { ts, version } = await chooseTaskSequence(taskSequences, named, io);
  return startRun(sessionOptions, `${ts.id}:${version}`);
}
