import { Command, Option } from 'commander';
import { parseInput } from '../common/validate.js';
import { HostConfig } from '../workers/host-config.js';
import { startHostWorker } from '../workers/host.js';
import { ControlConfig, startControlWorker } from '../workers/control.js';
import { createLogger } from '../workers/logger.js';
import { fail } from './output.js';
import { int } from './session-commands.js';

/** Stops `shutdown` on the first SIGINT/SIGTERM; a second one exits at once. */
export function onStopSignal(shutdown: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) process.exit(130);
    stopping = true;
    process.stderr.write(`\n${signal}: stopping (again to force)\n`);
    void shutdown().then(() => process.exit(0), (err) => fail(err));
  };
  process.on('SIGINT', () => handler('SIGINT'));
  process.on('SIGTERM', () => handler('SIGTERM'));
}

const temporalOptions = (cmd: Command) =>
  cmd
    .addOption(new Option('--temporal-address <host:port>', 'Temporal frontend').env('TEMPORAL_ADDRESS').default('localhost:7233'))
    .addOption(new Option('--namespace <ns>', 'Temporal namespace').env('TEMPORAL_NAMESPACE').default('default'));

export function controlCommand(): Command {
  return temporalOptions(new Command('control').description('run a control worker: session workflows and control activities'))
    .addOption(new Option('--default-host <hostId>', 'host for sessions whose create names none').env('SBX_DEFAULT_HOST'))
    .addOption(new Option('--task-queue <name>', 'task queue of the control workers').env('SBX_CONTROL_TASK_QUEUE').default('sbx-control'))
    .action(async (o) => {
      const logger = createLogger('sbx-control');
      try {
        const config = parseInput(
          ControlConfig,
          { temporalAddress: o.temporalAddress, namespace: o.namespace, defaultHostId: o.defaultHost, taskQueue: o.taskQueue },
          'control config',
        );
        const control = await startControlWorker(config, logger);
        onStopSignal(() => control.shutdown());
        await control.done;
      } catch (err) {
        fail(err);
      }
    });
}

export function hostCommand(): Command {
  return temporalOptions(new Command('host').description('run a host worker: sandboxes on this machine, on queue sbx-host-<hostId>'))
    .addOption(new Option('--host-id <id>', 'this host\'s id').env('SBX_HOST_ID').makeOptionMandatory())
    .addOption(new Option('--storage <kind>', 'where session filesystems live').choices(['zfs', 'local-disk']).env('SBX_STORAGE').default('zfs'))
    .addOption(new Option('--zfs-root <dataset>', 'ZFS dataset for sessions and templates (default sbx/<hostId>)').env('SBX_ZFS_ROOT'))
    .addOption(new Option('--data-root <dir>', 'host directory for state').env('SBX_DATA_ROOT').default('/var/lib/sbx'))
    .addOption(new Option('--runtime <kind>', 'what runs sandboxes').choices(['gvisor', 'none']).env('SBX_RUNTIME').default('gvisor'))
    .addOption(new Option('--runsc-platform <name>', 'gVisor platform (ptrace, kvm, …)').env('SBX_RUNSC_PLATFORM'))
    .addOption(new Option('--max-sessions <n>', 'sessions this host accepts').argParser(int).env('SBX_MAX_SESSIONS').default(50))
    .addOption(new Option('--default-quota-mb <n>', 'disk quota for sessions that set none').argParser(int).env('SBX_DEFAULT_QUOTA_MB'))
    .addOption(new Option('--max-concurrent <n>', 'activities run at once').argParser(int).default(32))
    .addOption(new Option('--shutdown-grace-ms <n>', 'time activities get to finish on SIGTERM').argParser(int).default(30_000))
    .action(async (o) => {
      const logger = createLogger('sbx-host');
      try {
        const config = parseInput(
          HostConfig,
          {
            hostId: o.hostId,
            temporalAddress: o.temporalAddress,
            namespace: o.namespace,
            storage: o.storage,
            zfsRoot: o.zfsRoot,
            dataRoot: o.dataRoot,
            runtime: o.runtime,
            runscPlatform: o.runscPlatform,
            maxSessions: Number(o.maxSessions),
            defaultQuotaBytes: o.defaultQuotaMb === undefined ? undefined : Number(o.defaultQuotaMb) * 1024 * 1024,
            maxConcurrentActivities: o.maxConcurrent,
            shutdownGraceMs: o.shutdownGraceMs,
          },
          'host config',
        );
        const host = await startHostWorker(config, logger);
        onStopSignal(() => host.shutdown());
        await host.done;
      } catch (err) {
        fail(err);
      }
    });
}
