// `deployr passcode add|list|show|revoke`: scoped passcodes, narrowed to task sequences, sources, a context, an expiry and a number of uses.

import type { ScopedPasscodes } from '../auth/scoped-passcodes.js';
import type { Prompter } from '../client/prompt.js';
import { DeployrError } from '../domain/errors.js';
import type { ScopedPasscodeView } from '../domain/scoped-passcode.js';
import { readNewPasscode } from './configure.js';
import { parseDurationFlag, type CommandIo } from './output.js';

/** The CLI acts as the local administrator in the audit trail. */
const LOCAL = { subject: 'admin', source: 'local' } as const;

/** Flags of `deployr passcode add`. */
export interface PasscodeAddFlags {
  ts?: string[];
  from?: string[];
  expires?: string;
  until?: string;
  uses?: string;
  context?: string;
  generate?: boolean;
}

/** The scope in one line: `task sequences …; from …; boot only`. */
export function describeScope(p: ScopedPasscodeView): string {
  const parts = [
    p.scope.taskSequences.length > 0 ? `task sequences ${p.scope.taskSequences.join(', ')}` : 'any task sequence',
    p.scope.sources.length > 0 ? `from ${p.scope.sources.join(', ')}` : 'from anywhere',
  ];
  if (p.scope.context !== null) parts.push(`${p.scope.context} only`);
  return parts.join('; ');
}

function printOne(p: ScopedPasscodeView, io: CommandIo): void {
  io.out(`${p.name} (${p.kind}${p.publicId ? `, starts ${p.publicId}-` : ''}): ${p.state}`);
  io.out(`  scope:     ${describeScope(p)}`);
  io.out(`  expires:   ${p.expiresAt ?? 'never'}`);
  io.out(`  uses:      ${p.maxUses === null ? `${p.uses} (unlimited)` : `${p.uses} of ${p.maxUses}, ${p.usesLeft} left`}`);
  io.out(`  last used: ${p.lastUsedAt ?? 'never'}`);
  io.out(`  created:   ${p.createdAt} by ${p.createdBy}${p.revokedAt ? `; revoked ${p.revokedAt}` : ''}`);
}

/** `deployr passcode add NAME [...]`: typed twice (masked, or two lines of standard input), or `--generate`d and shown once. */
export async function passcodeAdd(name: string, flags: PasscodeAddFlags, passcodes: ScopedPasscodes, prompter: Prompter, io: CommandIo): Promise<number> {
  if (flags.expires !== undefined && flags.until !== undefined) throw new DeployrError('INVALID_INPUT', '--expires and --until cannot be used together.');
  if (flags.context !== undefined && flags.context !== 'boot' && flags.context !== 'fullos') throw new DeployrError('INVALID_INPUT', '--context takes boot or fullos.');
  let maxUses: number | undefined;
  if (flags.uses !== undefined) {
    if (!/^[1-9][0-9]{0,6}$/.test(flags.uses.trim())) throw new DeployrError('INVALID_INPUT', '--uses takes a whole number from 1 to 1000000.');
    maxUses = Number(flags.uses.trim());
  }
  const expiresInSeconds = flags.expires !== undefined ? parseDurationFlag(flags.expires, '--expires') : undefined;
  const passcode = flags.generate ? undefined : await readNewPasscode(prompter);
  const added = await passcodes.add({
    name, ...(passcode !== undefined ? { passcode } : { generate: true }),
    taskSequences: flags.ts ?? [], sources: flags.from ?? [],
    ...(expiresInSeconds !== undefined ? { expiresInSeconds } : {}), ...(flags.until !== undefined ? { until: flags.until } : {}),
    ...(maxUses !== undefined ? { maxUses } : {}), ...(flags.context !== undefined ? { context: flags.context as 'boot' | 'fullos' } : {}),
  }, LOCAL);
  for (const w of added.warnings) io.err(`warning: ${w}`);
  io.out(`Added scoped passcode ${name}: ${describeScope(added.passcode)}; expires ${added.passcode.expiresAt ?? 'never'}; ${added.passcode.maxUses === null ? 'unlimited uses' : `${added.passcode.maxUses} use${added.passcode.maxUses === 1 ? '' : 's'}`}.`);
  if (added.generated !== undefined) {
    io.out('The passcode (shown only this once; it is not stored and cannot be shown again):');
    io.out(`  ${added.generated}`);
    io.out('Letters are not case-sensitive; the dashes may be left out. The first group names it, the rest is the secret.');
  }
  return 0;
}

/** `deployr passcode list [--json]`: name, scope, expiry, uses left, last used; never a passcode or hash. */
export async function passcodeList(passcodes: ScopedPasscodes, io: CommandIo, json: boolean): Promise<number> {
  const list = await passcodes.list();
  if (json) { io.out(JSON.stringify({ passcodes: list }, null, 2)); return 0; }
  if (list.length === 0) io.out('No scoped passcodes. Add one with: deployr passcode add NAME --ts ID --expires 8h (or --generate)');
  for (const p of list) {
    const uses = p.maxUses === null ? 'unlimited uses' : `${p.usesLeft} of ${p.maxUses} uses left`;
    io.out(`${p.name}\t${p.state}\t${describeScope(p)}\texpires ${p.expiresAt ?? 'never'}\t${uses}\tlast used ${p.lastUsedAt ?? 'never'}`);
  }
  return 0;
}

/** `deployr passcode show NAME [--json]`. */
export async function passcodeShow(name: string, passcodes: ScopedPasscodes, io: CommandIo, json: boolean): Promise<number> {
  const p = await passcodes.show(name);
  if (json) io.out(JSON.stringify(p, null, 2));
  else printOne(p, io);
  return 0;
}

/** `deployr passcode revoke NAME`: its tokens stop at once. */
export async function passcodeRevoke(name: string, passcodes: ScopedPasscodes, io: CommandIo): Promise<number> {
  await passcodes.revoke(name, LOCAL);
  io.out(`Revoked scoped passcode ${name}: it no longer signs in, and every token it gave out stops working now.`);
  return 0;
}
