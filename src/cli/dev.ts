import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Logger } from 'pino';
import { Connection } from '@temporalio/client';
import { SandboxClient } from '../client/sandbox-client.js';
import { CONTROL_TASK_QUEUE } from '../common/names.js';
import { detectBackends } from '../dev/detect.js';
import { startDevServer } from '../dev/temporal-server.js';
import { ControlConfig, startControlWorker } from '../workers/control.js';
import { HostConfig } from '../workers/host-config.js';
import { startHostWorker } from '../workers/host.js';
import { createLogger } from '../workers/logger.js';
import { ensureNexusEndpoint } from '../nexus/endpoint.js';
import { SBX_NEXUS_ENDPOINT } from '../nexus/service.js';
import { fail } from './output.js';
import { int } from './parsers.js';
import { onStopSignal } from './worker-commands.js';
import { devFleet, emptyWarmPool, warmPoolFilled } from '../dev/warm-pool.js';

const DEV_HOST = 'local';
/** A namespace of its own for agent workflows that call sbx through Nexus (examples/agent). */
const AGENTS_NAMESPACE = 'agents';

/** `sbx dev`: the embedded default stack on one machine, with a short demo. */
export function devCommand(): Command {
  return new Command('dev')
    .description('run everything on this machine: Temporal dev server, control worker, one host worker with a warm pool, and a demo')
    .addOption(new Option('--data-dir <dir>', 'state directory (Temporal SQLite file, host data)').env('SBX_DEV_DATA').default('.sbx'))
    .option('--port <n>', 'Temporal frontend port', int, 7233)
    .option('--ui-port <n>', 'Temporal Web UI port', int, 8233)
    .addOption(new Option('--storage <kind>', 'session storage').choices(['auto', 'zfs', 'local-disk']).default('auto'))
    .addOption(new Option('--runtime <kind>', 'sandbox runtime').choices(['auto', 'gvisor', 'none']).default('auto'))
    .option('--pool <name>', 'ZFS pool (made by the bootstrap script)', 'sbx')
    .option('--zfs-root <dataset>', 'dataset under which the dev host keeps sessions and templates (default <pool>/dev)')
    .option(
      '--warm-pool <n>',
      'busybox sandboxes kept made and started, so a create claims one and answers at once (0: none, every create makes its sandbox)',
      (value: string) => {
        const n = int(value);
        if (n < 0) throw new InvalidArgumentError('expected 0 or more');
        return n;
      },
      2,
    )
    .option('--no-demo', 'skip the demo session')
    .action(async (o) => {
      const logger = createLogger('sbx-dev');
      try {
        await runDev(o, logger);
      } catch (err) {
        fail(err);
      }
    });
}

async function runDev(
  o: {
    dataDir: string;
    port: number;
    uiPort: number;
    storage: string;
    runtime: string;
    pool: string;
    zfsRoot?: string;
    warmPool: number;
    demo: boolean;
  },
  logger: Logger,
): Promise<void> {
  const dataDir = resolve(o.dataDir);
  await mkdir(dataDir, { recursive: true });
  const found = await detectBackends(o.pool);
  const storage = o.storage === 'auto' ? (found.zfs ? 'zfs' : 'local-disk') : o.storage;
  const runtime = o.runtime === 'auto' ? (found.gvisor ? 'gvisor' : 'none') : o.runtime;
  if (storage !== 'zfs' || runtime !== 'gvisor') {
    logger.warn({ reasons: found.reasons }, `falling back to storage ${storage} and runtime ${runtime}`);
  }

  logger.info('starting the Temporal dev server');
  const server = await startDevServer({
    dbFile: resolve(dataDir, 'temporal.db'),
    port: o.port,
    uiPort: o.uiPort,
    extraNamespaces: [AGENTS_NAMESPACE],
  });
  const hostConfig = HostConfig.parse({
    hostId: DEV_HOST,
    temporalAddress: server.address,
    storage,
    runtime,
    zfsRoot: o.zfsRoot ?? `${o.pool}/dev`,
    dataRoot: resolve(dataDir, 'host'),
    shutdownGraceMs: 5000,
    // Before the workers serve: the warm pool makes busybox sandboxes as soon as the control worker runs.
    ensureBusybox: true,
  });
  // With a warm pool the host joins a one-host fleet, whose pool keeps sandboxes ready for creates.
  const fleet = devFleet(DEV_HOST, o.warmPool, hostConfig.maxSessions);
  const host = await startHostWorker({ ...hostConfig, fleetId: fleet?.fleetId }, logger);
  const control = await startControlWorker(
    ControlConfig.parse({ temporalAddress: server.address, defaultHostId: DEV_HOST, fleet }),
    logger,
  );
  const operator = await Connection.connect({ address: server.address });
  try {
    await ensureNexusEndpoint(operator, { name: SBX_NEXUS_ENDPOINT, namespace: 'default', taskQueue: CONTROL_TASK_QUEUE });
  } finally {
    await operator.close();
  }

  const stop = async () => {
    if (fleet)
      await withClient(server.address, async (client) => {
        if (!(await emptyWarmPool(client.temporal))) logger.warn('the warm pool did not empty in time; its sandboxes keep running');
      });
    await hibernateSessions(server.address, logger);
    await Promise.allSettled([control.shutdown(), host.shutdown()]);
    await server.stop();
  };
  onStopSignal(stop);
  if (fleet) {
    logger.info(`warming ${o.warmPool} busybox sandboxes`);
    await withClient(server.address, async (client) => {
      if (!(await warmPoolFilled(client.temporal, o.warmPool))) logger.warn('the warm pool is not full yet: the first creates may be cold');
    });
  }

  process.stdout.write(
    [
      '',
      `sbx is up: storage ${storage}, runtime ${runtime}, host '${DEV_HOST}'`,
      `  Temporal:     ${server.address} (namespace default)`,
      `  Temporal UI:  ${server.uiUrl}/namespaces/default/workflows`,
      `  Nexus:        endpoint '${SBX_NEXUS_ENDPOINT}' (service sbx.sandbox.v1), callers' namespace '${AGENTS_NAMESPACE}'`,
      `  Warm pool:    ${fleet ? `${o.warmPool} busybox sandboxes ready (fleet '${fleet.fleetId}'; \`sbx fleet status\`)` : 'none (--warm-pool 0)'}`,
      `  try:          node dist/cli/main.js session create my-session && node dist/cli/main.js session exec my-session -- echo hi`,
      '',
    ].join('\n'),
  );
  if (o.demo) await runDemo(server.address, server.uiUrl);
  process.stdout.write(
    'Ctrl-C hibernates the active sessions (`sbx session resume` brings one back) and stops everything sbx dev started.\n',
  );
  await Promise.all([host.done, control.done]);
}

/**
 * Sandboxes are processes of their own and would outlive sbx dev: each active session of the dev
 * host is hibernated (memory to its dataset, sandbox stopped) while the workers still run. Under the
 * next `sbx dev`, `sbx session resume` (or a tool call, for sessions made with autoResume) restores it.
 */
async function hibernateSessions(address: string, logger: Logger): Promise<void> {
  const client = await SandboxClient.connect({ address });
  try {
    const active = await client.listSessions({ state: 'active', host: DEV_HOST, limit: 1000 });
    if (active.length === 0) return;
    logger.info({ sessions: active.map((s) => s.sessionId) }, `hibernating ${active.length} active session(s)`);
    const waits = active.map(({ sessionId }) =>
      client
        .session(sessionId)
        .pause('hibernate')
        .catch((err: Error) => logger.warn({ sessionId, error: err.message }, 'could not hibernate; its sandbox keeps running')),
    );
    const deadline = new Promise((resolve) => setTimeout(resolve, 60_000).unref());
    await Promise.race([Promise.all(waits), deadline]);
  } finally {
    await client.close();
  }
}

async function withClient<T>(address: string, fn: (client: SandboxClient) => Promise<T>): Promise<T> {
  const client = await SandboxClient.connect({ address });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

async function runDemo(address: string, uiUrl: string): Promise<void> {
  const say = (line: string) => process.stdout.write(`demo: ${line}\n`);
  const client = await SandboxClient.connect({ address });
  try {
    const sessionId = `demo-${Date.now().toString(36)}`;
    say(`creating session ${sessionId}`);
    const asked = performance.now();
    const { session, info } = await client.createSession({ sessionId, template: 'busybox' });
    const created = performance.now();
    const uname = await session.exec({ toolCallId: 'demo-uname', command: 'uname -a' });
    const answered = performance.now();
    const how = info.warmClaim ? `claimed warm sandbox ${info.sandboxId}; the pool refills in the background` : 'made cold';
    say(`created in ${ms(created - asked)} (${how}); first command answered ${ms(answered - created)} later`);
    say(`create → first command: ${ms(answered - asked)}`);
    say(`exec 'uname -a' → ${uname.stdout.trim()}`);
    await session.writeFiles([{ path: 'notes.txt', content: 'written in turn 1\n' }]);
    const turn1 = await session.turnComplete();
    say(`turn ${turn1.turn} complete: snapshot ${turn1.snapshotId}`);
    await session.exec({ toolCallId: 'demo-change', command: 'echo "changed in turn 2" > notes.txt; rm -f /workspace/missing' });
    say(`notes.txt now: ${(await session.readFile('notes.txt')).content.trim()}`);
    await session.rollback({ turn: 1 });
    const back = await session.exec({ toolCallId: 'demo-cat', command: 'cat notes.txt' });
    say(`rolled back to turn 1; notes.txt from inside the sandbox: ${back.stdout.trim()}`);
    if (back.stdout.trim() !== 'written in turn 1') throw new Error('demo failed: the rollback did not restore notes.txt');
    say(`passed. See it at ${uiUrl}/namespaces/default/workflows/sbx-session-${sessionId}`);
  } finally {
    await client.close();
  }
}

const ms = (elapsed: number) => `${Math.round(elapsed)} ms`;
