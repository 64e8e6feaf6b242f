// Wires `deployr passcode …` (scoped passcodes) to the home's store: registered by deployr.ts.

import { Option, type Command } from 'commander';
import { createArgon2Hasher } from '../auth/passcode-hasher.js';
import { ScopedPasscodes } from '../auth/scoped-passcodes.js';
import { passcodeAdd, passcodeList, passcodeRevoke, passcodeShow, type PasscodeAddFlags } from '../cli/passcode-commands.js';
import { commandExit as exit, processIo } from '../cli/output.js';
import { createPrompter } from '../client/prompt.js';
import { resolveHome } from '../config/service-config.js';
import { openHomeStore } from './open-store.js';

/** Runs `body` with the scoped passcodes of the home and a prompter, closing both afterwards. */
async function withPasscodes(home: string | undefined, body: (passcodes: ScopedPasscodes, prompter: ReturnType<typeof createPrompter>) => Promise<number>): Promise<number> {
  const { store } = await openHomeStore(resolveHome(home));
  const prompter = createPrompter();
  try { return await body(new ScopedPasscodes(store, createArgon2Hasher()), prompter); } finally { prompter.close(); await store.close(); }
}

/** Collects a repeatable option's values. */
function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Registers `deployr passcode add|list|show|revoke`. */
export function registerPasscodeCommands(program: Command): void {
  const home = (): Option => new Option('--home <dir>', 'the home folder (default: $DEPLOYR_HOME or ~/.deployr)');
  const passcode = program.command('passcode').description('scoped passcodes: extra passcodes limited to task sequences, sources, a context, an expiry and a number of uses (the global passcode is set with configure security)');
  passcode.command('add').argument('<name>', 'a name for it (lower-case letters, digits, . _ -)').addOption(home())
    .option('--ts <id[:version]>', 'limit its tokens to this task sequence (and the ones it runs); repeat for more', collect)
    .option('--from <cidr>', 'accept it only from this address range (for example 10.1.0.0/16); repeat for more', collect)
    .option('--expires <duration>', 'it expires this long from now (for example 2h, 3d)')
    .option('--until <time>', 'it expires at this time (ISO 8601, for example 2026-12-24T18:00:00Z)')
    .option('--uses <n>', 'it signs in at most this many times')
    .addOption(new Option('--context <context>', 'only at boot, or only for a full-OS start').choices(['boot', 'fullos']))
    .option('--generate', 'make a strong one (six groups of four characters, easy to read out) and show it once, instead of typing one')
    .description('add a scoped passcode: prompts "Passcode" and "Verify passcode" (masked), or reads two lines from standard input; or --generate')
    .action(async (name: string, flags: PasscodeAddFlags & { home?: string }) => exit(() => withPasscodes(flags.home, (p, prompter) => passcodeAdd(name, flags, p, prompter, processIo))));
  passcode.command('list').addOption(home()).option('--json', 'JSON output').description('every scoped passcode: name, state, scope, expiry, uses left, last used (never the passcode)')
    .action(async (flags: { home?: string; json?: boolean }) => exit(() => withPasscodes(flags.home, (p) => passcodeList(p, processIo, Boolean(flags.json)))));
  passcode.command('show').argument('<name>').addOption(home()).option('--json', 'JSON output').description('one scoped passcode (never the passcode)')
    .action(async (name: string, flags: { home?: string; json?: boolean }) => exit(() => withPasscodes(flags.home, (p) => passcodeShow(name, p, processIo, Boolean(flags.json)))));
  passcode.command('revoke').argument('<name>').addOption(home()).description('revoke a scoped passcode: it stops signing in, and its tokens stop working at once')
    .action(async (name: string, flags: { home?: string }) => exit(() => withPasscodes(flags.home, (p) => passcodeRevoke(name, p, processIo))));
}
