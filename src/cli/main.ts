// The `petrel` command. Each subcommand lives in its own module that exports
// register<Name>Command(program); adding a subcommand is one import and one call below.

import { Command } from 'commander';
import { exitCodes } from './exit-codes.js';
import { packageInfo } from './package-info.js';
import { registerBenchCommand } from '../bench/command.js';
import { registerStartCommand } from './start.js';
import { registerPasswdCommand } from './passwd.js';

const program = new Command('petrel')
  .description('Petrel: an MQTT 3.1.1 / 5.0 broker for Node.js')
  .version(packageInfo().version, '-V, --version', 'print the version and exit')
  .helpOption('-h, --help', 'show help')
  .showHelpAfterError('(run petrel --help for usage)')
  // Subcommands created after this inherit it: usage errors exit 2, help and version exit 0.
  .exitOverride((error) => {
    process.exit(error.exitCode === 0 ? exitCodes.ok : exitCodes.usage);
  });

registerStartCommand(program);
registerBenchCommand(program);
registerPasswdCommand(program);

await program.parseAsync(process.argv);
