import { Command, Option } from 'commander';
import { parseInput } from '../common/validate.js';
import { Connection } from '@temporalio/client';
import { createRuntime, createStorage } from '../workers/backend-factory.js';
import { HostConfig } from '../workers/host-config.js';
import { startHostWorker } from '../workers/host.js';
import type { ReconcilePlan } from '../workers/reconcile-plan.js';
import { createReconciler } from '../workers/reconcile.js';
import { ControlConfig, startControlWorker } from '../workers/control.js';
import { DEFAULT_MAX_CACHED_WORKFLOWS } from '../workers/control-config.js';
import { createLogger } from '../workers/logger.js';
import { SbxError, SbxErrorType } from '../client/errors.js';
import { fail, print } from './output.js';
import { int } from './parsers.js';

/** Stops `shutdown` on the first SIGINT/SIGTERM; a second one exits at once. */
export function onStopSignal(shutdown: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) process.exit(130);
    stopping = true;
    process.stderr.write(`\n${signal}: stopping (again to force)\n`);
    void shutdown().then(
      () => process.exit(0),
      (err) => fail(err),
    );
  };
  process.on('SIGINT', () => handler('SIGINT'));
  process.on('SIGTERM', () => handler('SIGTERM'));
}

const temporalOptions = (cmd: Command) =>
  cmd
    .addOption(new Option('--temporal-address <host:port>', 'Temporal frontend').env('TEMPORAL_ADDRESS').default('localhost:7233'))
    .addOption(new Option('--namespace <ns>', 'Temporal namespace').env('TEMPORAL_NAMESPACE').default('default'));

const FLEET_SETTINGS: Array<[flag: string, key: string, help: string]> = [
  ['--min-hosts <n>', 'minHosts', 'fewest hosts to keep (default 1)'],
  ['--max-hosts <n>', 'maxHosts', 'most hosts to run (default 50)'],
  ['--max-sessions-per-host <n>', 'maxSessionsPerHost', 'slots per host (default 10)'],
  ['--warm-slots <n>', 'warmSlots', 'free slots to keep ready (default 2)'],
  ['--heartbeat-ms <n>', 'heartbeatIntervalMs', 'expected host heartbeat interval (default 15000)'],
  ['--heartbeat-misses <n>', 'heartbeatMissLimit', 'missed heartbeats before a host is lost (default 3)'],
  ['--idle-cooldown-ms <n>', 'idleCooldownMs', 'idle time before a spare host is drained (default 600000)'],
  ['--drain-timeout-ms <n>', 'drainTimeoutMs', 'longest drain before termination (default 1800000)'],
  ['--provision-timeout-ms <n>', 'provisionTimeoutMs', 'longest boot before a host is given up (default 300000)'],
  ['--max-concurrent-provisions <n>', 'maxConcurrentProvisions', 'hosts booting at once (default 3)'],
  ['--reconcile-ms <n>', 'reconcileIntervalMs', 'reconcile timer (default 5000)'],
];

export function controlCommand(): Command {
  const cmd = temporalOptions(new Command('control').description('run a control worker: session and fleet workflows, control activities'))
    .addOption(new Option('--default-host <hostId>', 'host for sessions whose create names none (no fleet)').env('SBX_DEFAULT_HOST'))
    .addOption(new Option('--task-queue <name>', 'task queue of the control workers').env('SBX_CONTROL_TASK_QUEUE').default('sbx-control'))
    .addOption(new Option('--fleet <fleetId>', 'run a fleet: placement, autoscaling, host loss').env('SBX_FLEET'))
    .addOption(
      new Option('--provisioner <kind>', 'how the fleet starts hosts')
        .choices(['local', 'ec2', 'static'])
        .env('SBX_PROVISIONER')
        .default('local'),
    )
    .addOption(
      new Option('--local-state-dir <dir>', 'local provisioner: where host records and data live')
        .env('SBX_LOCAL_STATE_DIR')
        .default('/var/lib/sbx/fleet'),
    )
    .addOption(new Option('--static-hosts <ids>', 'static provisioner: comma-separated host ids').env('SBX_STATIC_HOSTS'))
    .addOption(new Option('--ec2-region <region>').env('AWS_REGION'))
    .addOption(new Option('--ec2-endpoint <url>', 'EC2 API endpoint (e.g. a moto server)').env('SBX_EC2_ENDPOINT'))
    .addOption(new Option('--ec2-image-id <ami>').env('SBX_EC2_IMAGE_ID'))
    .addOption(new Option('--ec2-instance-type <type>').env('SBX_EC2_INSTANCE_TYPE').default('m7i.large'))
    .addOption(
      new Option(
        '--warm-pool <template=size>',
        'fleet: keep this many sandboxes of a template made and started (repeatable, or comma-separated)',
      )
        .argParser((value: string, previous: string[] = []) => [...previous, ...value.split(',').filter(Boolean)])
        .env('SBX_WARM_POOLS'),
    )
    .addOption(new Option('--metrics-port <n>', 'serve Prometheus metrics on /metrics').argParser(int).env('SBX_METRICS_PORT').default(0))
    .addOption(
      new Option(
        '--max-cached-workflows <n>',
        'workflows kept in memory (~1.6 MB each); an evicted session replays its history on its next call (0: no cache)',
      )
        .argParser(int)
        .env('SBX_MAX_CACHED_WORKFLOWS')
        .default(DEFAULT_MAX_CACHED_WORKFLOWS),
    );
  for (const [flag, , help] of FLEET_SETTINGS) cmd.addOption(new Option(flag, help).argParser(int));
  return cmd.action(async (o) => {
    const logger = createLogger('sbx-control');
    try {
      if (o.warmPool && !o.fleet) {
        throw new SbxError(SbxErrorType.InvalidArgument, 'warm pools live in a fleet: add --fleet <fleetId> to use --warm-pool');
      }
      const settings = Object.fromEntries(
        FLEET_SETTINGS.map(([flag, key]) => [
          key,
          o[flag.slice(2, flag.indexOf(' ')).replace(/-([a-z])/g, (_: string, c: string) => c.toUpperCase())],
        ]).filter(([, value]) => value !== undefined),
      );
      const config = parseInput(
        ControlConfig,
        {
          temporalAddress: o.temporalAddress,
          namespace: o.namespace,
          defaultHostId: o.defaultHost,
          taskQueue: o.taskQueue,
          metricsPort: o.metricsPort,
          maxCachedWorkflows: o.maxCachedWorkflows,
          fleet: o.fleet && {
            fleetId: o.fleet,
            provisioner: o.provisioner,
            settings,
            localStateDir: o.localStateDir,
            staticHosts: o.staticHosts?.split(',').filter(Boolean) ?? [],
            warmPools: o.warmPool ?? [],
            ec2:
              o.provisioner === 'ec2'
                ? { region: o.ec2Region, endpoint: o.ec2Endpoint, imageId: o.ec2ImageId, instanceType: o.ec2InstanceType }
                : undefined,
          },
        },
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
  const host = temporalOptions(new Command('host').description('run a host worker: sandboxes on this machine, on queue sbx-host-<hostId>'))
    .addOption(new Option('--host-id <id>', "this host's id").env('SBX_HOST_ID').makeOptionMandatory())
    .addOption(
      new Option('--storage <kind>', 'where session filesystems live').choices(['zfs', 'local-disk']).env('SBX_STORAGE').default('zfs'),
    )
    .addOption(
      new Option('--zfs-root <dataset>', 'ZFS dataset for sessions and templates (default <zfs-parent>/<hostId>)').env('SBX_ZFS_ROOT'),
    )
    .addOption(new Option('--zfs-parent <dataset>', 'parent of the default ZFS root').env('SBX_ZFS_PARENT').default('sbx'))
    .addOption(
      new Option('--zfs-lock <path>', 'lock file serialising zfs changes on this machine (default <data-root>/zfs.lock)').env(
        'SBX_ZFS_LOCK',
      ),
    )
    .addOption(
      new Option('--zfs-timeout-ms <n>', 'longest run of one zfs command').argParser(int).env('SBX_ZFS_TIMEOUT_MS').default(120_000),
    )
    .addOption(new Option('--fleet <fleetId>', 'register with this fleet and heartbeat to it').env('SBX_FLEET'))
    .addOption(new Option('--heartbeat-ms <n>', 'heartbeat interval').argParser(int).env('SBX_HEARTBEAT_MS').default(15_000))
    .addOption(
      new Option('--control-task-queue <name>', "the control workers' task queue (where a first heartbeat starts the fleet)")
        .env('SBX_CONTROL_TASK_QUEUE')
        .default('sbx-control'),
    )
    .addOption(new Option('--ensure-busybox', 'import the busybox template at start if missing').env('SBX_ENSURE_BUSYBOX'))
    .addOption(new Option('--data-root <dir>', 'host directory for state').env('SBX_DATA_ROOT').default('/var/lib/sbx'))
    .addOption(new Option('--runtime <kind>', 'what runs sandboxes').choices(['gvisor', 'none']).env('SBX_RUNTIME').default('gvisor'))
    .addOption(new Option('--runsc-platform <name>', 'gVisor platform (ptrace, kvm, …)').env('SBX_RUNSC_PLATFORM'))
    .addOption(
      new Option('--runsc <path>', 'runsc binary (default: the pinned gVisor the bootstrap built, else runsc on PATH)').env('SBX_RUNSC'),
    )
    .addOption(new Option('--max-sessions <n>', 'sessions this host accepts').argParser(int).env('SBX_MAX_SESSIONS').default(50))
    .addOption(
      new Option('--default-quota-mb <n>', 'disk quota for sessions that set none (default 10240)')
        .argParser(int)
        .env('SBX_DEFAULT_QUOTA_MB'),
    )
    .addOption(
      new Option('--max-quota-mb <n>', 'largest disk quota a session may ask for (default 102400)').argParser(int).env('SBX_MAX_QUOTA_MB'),
    )
    .addOption(
      new Option('--reserve-mb <n>', 'pool space kept from sessions for snapshots and clones (default 256)')
        .argParser(int)
        .env('SBX_RESERVE_MB'),
    )
    .addOption(
      new Option('--reconcile-ms <n>', 'interval between reconcile passes, 0 for start only')
        .argParser(int)
        .env('SBX_RECONCILE_MS')
        .default(300_000),
    )
    .addOption(
      new Option('--quarantine-grace-ms <n>', 'how long a sandbox no workflow claims is kept before deletion')
        .argParser(int)
        .env('SBX_QUARANTINE_GRACE_MS')
        .default(86_400_000),
    )
    .addOption(
      new Option('--max-concurrent <n>', 'lifecycle activities (create, snapshot, destroy, …) run at once').argParser(int).default(32),
    )
    .addOption(new Option('--max-concurrent-tools <n>', 'tool calls (exec, files, processes) run at once').argParser(int).default(64))
    .addOption(new Option('--max-tools-per-session <n>', 'tool calls one session may run at once on this host').argParser(int).default(16))
    .addOption(new Option('--shutdown-grace-ms <n>', 'time activities get to finish on SIGTERM').argParser(int).default(30_000))
    // `sbx host reconcile …` hands everything after the subcommand's name to it.
    .enablePositionalOptions()
    .action(async (o, cmd: Command) => {
      const logger = createLogger('sbx-host');
      try {
        const host = await startHostWorker(hostConfigFrom(o, cmd), logger);
        onStopSignal(() => host.shutdown());
        await host.done;
      } catch (err) {
        fail(err);
      }
    });
  host.addCommand(hostReconcileCommand());
  return host;
}

/** `sbx host [flags] reconcile --dry-run`: what a reconcile pass would do on this host, or one pass now. */
function hostReconcileCommand(): Command {
  return new Command('reconcile')
    .description(
      'compare the sandboxes on this host with Temporal: remove, quarantine or release them (takes the host\'s flags before "reconcile")',
    )
    .option('--dry-run', 'list what a pass would do and change nothing', false)
    .action(async (o: { dryRun: boolean }, cmd: Command) => {
      const logger = createLogger('sbx-host', { toStderr: true });
      const { json } = cmd.optsWithGlobals<{ json: boolean }>();
      try {
        const config = hostConfigFrom(cmd.parent!.opts(), cmd.parent!);
        const storage = await createStorage(config, logger, { init: !o.dryRun });
        const connection = await Connection.connect({ address: config.temporalAddress });
        try {
          const reconciler = createReconciler(config, connection, storage, createRuntime(config, logger), logger);
          const plan = o.dryRun ? await reconciler.plan() : await reconciler.run();
          print({ json }, plan, (p) => describePlan(p, o.dryRun));
        } finally {
          await connection.close();
        }
      } catch (err) {
        fail(err, json);
      }
    });
}

function describePlan(plan: ReconcilePlan, dryRun: boolean): string {
  const verb = (would: string, did: string) => (dryRun ? would : did);
  const line = (label: string, ids: string[]) => `${label}: ${ids.length ? ids.join(', ') : '-'}`;
  return [
    line('keep', plan.keep),
    line(verb('would delete', 'deleted'), plan.removeSessions),
    line(verb('would quarantine', 'quarantined'), plan.quarantine),
    line(verb('would release from quarantine', 'released from quarantine'), plan.release),
    `held in quarantine: ${plan.held.length ? plan.held.map((h) => `${h.sandboxId} (deleted after ${new Date(h.deleteAfter).toISOString()})`).join(', ') : '-'}`,
    line(verb('would remove stray containers', 'removed stray containers'), plan.removeContainers),
  ].join('\n');
}

const mb = (n: unknown) => (n === undefined ? undefined : Number(n) * 1024 * 1024);

function hostConfigFrom(o: Record<string, unknown>, host: Command): HostConfig {
  // Commander reads the program's own --namespace anywhere on the line, so `sbx host --namespace x`
  // lands there; the host's copy then holds only its default.
  const namespace = host.getOptionValueSource('namespace') === 'default' ? host.parent?.opts().namespace : o.namespace;
  return parseInput(
    HostConfig,
    {
      hostId: o.hostId,
      temporalAddress: o.temporalAddress,
      namespace,
      storage: o.storage,
      zfsRoot: o.zfsRoot,
      zfsParent: o.zfsParent,
      zfsLockPath: o.zfsLock,
      zfsTimeoutMs: o.zfsTimeoutMs,
      fleetId: o.fleet,
      heartbeatMs: Number(o.heartbeatMs),
      controlTaskQueue: o.controlTaskQueue,
      ensureBusybox: Boolean(o.ensureBusybox),
      dataRoot: o.dataRoot,
      runtime: o.runtime,
      runscPlatform: o.runscPlatform,
      runscPath: o.runsc,
      maxSessions: Number(o.maxSessions),
      defaultQuotaBytes: mb(o.defaultQuotaMb),
      maxQuotaBytes: mb(o.maxQuotaMb),
      reserveBytes: mb(o.reserveMb),
      reconcileIntervalMs: o.reconcileMs,
      quarantineGraceMs: o.quarantineGraceMs,
      maxConcurrentActivities: o.maxConcurrent,
      maxConcurrentToolCalls: o.maxConcurrentTools,
      maxToolCallsPerSession: o.maxToolsPerSession,
      shutdownGraceMs: o.shutdownGraceMs,
    },
    'host config',
  );
}
