#!/usr/bin/env node
import { Command, Option } from 'commander';
import { devCommand } from './dev.js';
import { fleetCommands } from './fleet-commands.js';
import { mcpCommand } from './mcp.js';
import { usageErrorsExit2 } from './output.js';
import { sessionCommands } from './session-commands.js';
import { templateCommands } from './template-commands.js';
import { controlCommand, hostCommand } from './worker-commands.js';

const program = new Command('sbx')
  .description('durable sandboxes for AI agents, orchestrated by Temporal')
  .addOption(new Option('--address <host:port>', 'Temporal frontend for client commands').env('TEMPORAL_ADDRESS').default('localhost:7233'))
  .addOption(new Option('--namespace <ns>', 'Temporal namespace for client commands').env('TEMPORAL_NAMESPACE').default('default'))
  .option('--json', 'machine-readable output', false)
  .showHelpAfterError();

const globals = () => program.opts<{ address: string; namespace: string; json: boolean }>();

program.addCommand(devCommand());
program.addCommand(controlCommand());
program.addCommand(hostCommand());
program.addCommand(sessionCommands(globals));
program.addCommand(templateCommands(() => globals().json));
program.addCommand(fleetCommands(globals));
program.addCommand(mcpCommand(globals));

usageErrorsExit2(program);

await program.parseAsync();
