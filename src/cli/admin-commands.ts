// `deployr admin add|list|passwd|role|remove`: the administrators who sign in to the web console and admin API.

import { checkAdminPassword, type Administrators } from '../auth/administrators.js';
import { DeployrError } from '../domain/errors.js';
import type { Prompter } from '../client/prompt.js';
import type { CommandIo } from './output.js';

/** The CLI acts as the local administrator in the audit trail. */
const LOCAL = { subject: 'admin', source: 'local' } as const;

/** Asks for a new password twice (masked, or two lines of standard input); one the rules refuse, or a mismatch, changes nothing. */
async function readNewPassword(prompter: Prompter): Promise<string> {
  const first = await prompter.secret('Password:');
  if (first === null) throw new DeployrError('INVALID_INPUT', 'No password was given (the input ended); nothing changed.');
  checkAdminPassword(first);
  const second = await prompter.secret('Verify password:');
  if (second === null) throw new DeployrError('INVALID_INPUT', 'The password was not verified (the input ended); nothing changed.');
  if (first !== second) throw new DeployrError('INVALID_INPUT', 'The two passwords do not match; nothing changed.');
  return first;
}

/** `deployr admin add NAME --role ROLE`. */
export async function adminAdd(name: string, flags: { role: string }, admins: Administrators, prompter: Prompter, io: CommandIo): Promise<number> {
  const password = await readNewPassword(prompter);
  const { warnings } = await admins.add({ name, role: flags.role, password }, LOCAL);
  for (const w of warnings) io.err(`warning: ${w}`);
  io.out(`Added administrator ${name} (${flags.role}).`);
  return 0;
}

/** `deployr admin list [--json]`. */
export async function adminList(admins: Administrators, io: CommandIo, json: boolean): Promise<number> {
  const list = await admins.list();
  if (json) { io.out(JSON.stringify({ administrators: list }, null, 2)); return 0; }
  if (list.length === 0) io.out('No administrators. Add one with: deployr admin add NAME --role admin');
  for (const a of list) io.out(`${a.name}\t${a.role}\tadded ${a.createdAt}\tpassword changed ${a.passwordChangedAt}`);
  return 0;
}

/** `deployr admin passwd NAME`. */
export async function adminPasswd(name: string, admins: Administrators, prompter: Prompter, io: CommandIo): Promise<number> {
  const password = await readNewPassword(prompter);
  const { warnings } = await admins.setPassword(name, password, LOCAL);
  for (const w of warnings) io.err(`warning: ${w}`);
  io.out(`Changed the password of ${name}; their console sessions have ended.`);
  return 0;
}

/** `deployr admin role NAME ROLE`. */
export async function adminRole(name: string, role: string, admins: Administrators, io: CommandIo): Promise<number> {
  await admins.setRole(name, role, LOCAL);
  io.out(`${name} now has the ${role} role; their console sessions have ended.`);
  return 0;
}

/** `deployr admin remove NAME`. */
export async function adminRemove(name: string, admins: Administrators, io: CommandIo): Promise<number> {
  await admins.remove(name, LOCAL);
  io.out(`Removed administrator ${name}.`);
  return 0;
}
