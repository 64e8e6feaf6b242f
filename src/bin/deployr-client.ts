#!/usr/bin/env node
// `deployr-client`: only the machine side (`deployr-client client ...`), with no server code; bundled into one file that the server hands out to bootstrap scripts.

import { Command } from 'commander';
import { registerClientCommand } from '../cli/client-command.js';
import { endQuietlyOnClosedOutput } from '../cli/output.js';

endQuietlyOnClosedOutput();
const program = new Command('deployr-client')
  .description('deployr client: sign in to a deployr server and run a task sequence on this machine')
  .showHelpAfterError();
registerClientCommand(program);
await program.parseAsync(process.argv);
