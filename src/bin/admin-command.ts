// Wires `deployr admin …` (console administrators) to the home's store: registered by deployr.ts.

import { Option, type Command } from 'commander';
import { Administrators } from '../auth/administrators.js';
import { createArgon2Hasher } from '../auth/passcode-hasher.js';
import { adminAdd, adminList, adminPasswd, adminRemove, adminRole } from '../cli/admin-commands.js';
import { commandExit as exit, processIo } from '../cli/output.js';
import { createPrompter } from '../client/prompt.js';
import { resolveHome } from '../config/service-config.js';
import { openHomeStore } from './open-store.js';

/** Runs `body` with the administrators of the home and a prompter, closing both afterwards. */
async function withAdmins(home: string | undefined, body: (admins: Administrators, prompter: ReturnType<typeof createPrompter>) => Promise<number>): Promise<number> {
  const { store } = await openHomeStore(resolveHome(home));
  const prompter = createPrompter();
  try { return await body(new Administrators(store, createArgon2Hasher()), prompter); } finally { prompter.close(); await store.close(); }
}

/** Registers `deployr admin add|list|passwd|role|remove`. */
export function registerAdminCommands(program: Command): void {
  const home = (): Option => new Option('--home <dir>', 'the home folder (default: $DEPLOYR_HOME or ~/.deployr)');
  const admin = program.command('admin').description('administrators of the web console and admin API (roles admin, operator, viewer)');
  admin.command('add').argument('<name>').addOption(home())
    .addOption(new Option('--role <role>', 'admin (everything), operator (day-to-day) or viewer (reads)').choices(['admin', 'operator', 'viewer']).makeOptionMandatory())
    .description('add an administrator: prompts "Password" and "Verify password" (masked), or reads two lines from standard input')
    .action(async (name: string, flags: { home?: string; role: string }) => exit(() => withAdmins(flags.home, (a, p) => adminAdd(name, flags, a, p, processIo))));
  admin.command('list').addOption(home()).option('--json', 'JSON output').description('list administrators and their roles (never a password)')
    .action(async (flags: { home?: string; json?: boolean }) => exit(() => withAdmins(flags.home, (a) => adminList(a, processIo, Boolean(flags.json)))));
  admin.command('passwd').argument('<name>').addOption(home()).description("set an administrator's password (typed twice); their console sessions end")
    .action(async (name: string, flags: { home?: string }) => exit(() => withAdmins(flags.home, (a, p) => adminPasswd(name, a, p, processIo))));
  admin.command('role').argument('<name>').argument('<role>', 'admin, operator or viewer').addOption(home()).description("change an administrator's role (the last admin cannot be demoted)")
    .action(async (name: string, role: string, flags: { home?: string }) => exit(() => withAdmins(flags.home, (a) => adminRole(name, role, a, processIo))));
  admin.command('remove').argument('<name>').addOption(home()).description('remove an administrator (the last admin cannot be removed)')
    .action(async (name: string, flags: { home?: string }) => exit(() => withAdmins(flags.home, (a) => adminRemove(name, a, processIo))));
}
