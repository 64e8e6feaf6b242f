// `deployr client`: connect, sign in, choose a task sequence (or take the one named), and say what will run.

import { readFileSync } from 'node:fs';
import { PATHS, type TaskSequenceList, type TaskSequenceSummary } from '../api/contract.js';
import { ApiClient, ClientError, type ServerTrust } from './api-client.js';
import { signIn } from './authenticate.js';
import type { Prompter } from './prompt.js';

/** The client's options (from the command line and environment). */
export interface ClientOptions {
  server: string;
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
}

/** Where the client writes. */
export interface ClientIo {
  prompter: Prompter;
  out(line: string): void;
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
    if (!ts) throw new ClientError('INPUT', `No task sequence ${id} on this server (or this sign-in may not use it).`);
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

/** Runs the client; returns the exit code. */
export async function runClient(o: ClientOptions, io: ClientIo): Promise<number> {
  const api = await ApiClient.connect(o.server, trustFromOptions(o));
  const named = o.ts ?? variable(o.variables, 'TSID');
  const passcodeVariable = variable(o.variables, 'Passcode');
  if (o.fullos && !named) throw new ClientError('INPUT', 'A full-OS start needs the task sequence: --ts ID[:VERSION].');
  const session = await signIn(api, {
    context: o.fullos ? 'fullos' : 'boot', passcodeVariable: o.fullos ? passcodeVariable : null,
    hasClientCertificate: Boolean(o.certFile || o.pfxFile), taskSequence: o.fullos ? named : null, deviceId: o.deviceId ?? null,
    ...(o.sleep ? { sleep: o.sleep } : {}),
  }, { prompter: io.prompter, say: io.out });
  io.out(`Signed in (${session.method}); the session is valid until ${session.expiresAt}.`);
  const { taskSequences } = await api.call<TaskSequenceList>('GET', PATHS.taskSequences, undefined, session.token);
  const { ts, version } = await chooseTaskSequence(taskSequences, named, io);
  const steps = ts.versions.find((v) => v.versionNo === version)?.steps ?? 0;
  io.out(`Task sequence: ${ts.name} (${ts.id}:${version}), ${steps} steps.`);
  io.out('Running task sequences is not built yet in this version: nothing was changed on this machine.');
  return 0;
}
