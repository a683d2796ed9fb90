import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode } from '@temporalio/worker';
import { DEFAULT_ZFS_CLI, runZfs } from '../../src/activities/host/zfs-cli.js';
import { probeZfsFuse } from '../../src/activities/host/zfs-probe.js';
import { requireBuilt, temporalCliPath } from '../../src/dev/paths.js';
import { devServerTuningArgs } from '../../src/dev/server-tuning.js';
import { startMoto } from '../../src/dev/moto.js';
import { freePort } from '../../src/dev/net.js';
import { sbxSearchAttributes } from '../../src/protocol/search-attributes.js';
import { workflowInterceptorModules } from '../../src/workers/workflow-interceptors.js';
import { workflowPreloadModules } from '../../src/workers/workflow-bundle.js';
import { CALLER_NAMESPACE, STACK_ENV, type TestStack } from './stack.js';
import { workflowsPaths } from './workflows.js';

/**
 * Starts the real parts once per test run: the Temporal dev server (built by the bootstrap script),
 * moto's EC2 server and a scratch ZFS dataset tree. Each failure names the part that could not start.
 */
export default async function globalSetup(): Promise<void> {
  const runId = `t${process.pid}-${Date.now().toString(36)}`;
  // Every host and zfs call of the run, in this process, its workers and the hosts they spawn, takes
  // the same machine-wide lock on zfs changes as any other run on this machine.
  process.env.SBX_ZFS_LOCK = DEFAULT_ZFS_CLI.lockPath;
  // Hosts the tests spawn (sbx host, the local provisioner's) share one small pool: a token reserve each.
  process.env.SBX_RESERVE_MB ??= '16';
  const scratch = mkdtempSync(join(tmpdir(), 'sbx-test-'));
  const pool = process.env.SBX_POOL ?? 'sbx';

  // A wedged daemon would hang every test at its first zfs call: fail here, saying so.
  const probe = await probeZfsFuse({ root: pool, timeoutMs: 15_000 });
  if (!probe.answers) {
    throw new Error(`zfs-fuse does not answer (${probe.detail}): run 'npm run bootstrap', which restarts a hung daemon`);
  }
  const health = await execa('zpool', ['list', '-H', '-o', 'health', pool], { reject: false, timeout: 30_000 });
  if (health.exitCode !== 0 || health.stdout.trim() !== 'ONLINE') {
    throw new Error(`ZFS pool '${pool}' is not available (${health.stderr.trim() || health.stdout.trim()}): run 'npm run bootstrap'`);
  }
  const zfsRoot = `${pool}/${runId}`;
  const created = await runZfs('zfs', ['create', '-p', '-o', `mountpoint=${join(scratch, 'zfs')}`, zfsRoot]);
  if (created.exitCode !== 0) throw new Error(`zfs create ${zfsRoot} failed: ${created.stderr.trim()}`);

  // The Web UI is on too: a test reads a session's page in a headless browser.
  const uiPort = await freePort();
  const temporal = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: requireBuilt(temporalCliPath(), 'Temporal CLI') },
      uiPort,
      searchAttributes: sbxSearchAttributes,
      // `agents`: a caller namespace for workflows that drive sbx through its Nexus endpoint.
      extraArgs: [
        ...devServerTuningArgs({ persistent: false, dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 400 } }),
        '--namespace',
        CALLER_NAMESPACE,
      ],
    },
  }).catch((err: Error) => {
    throw new Error(`Temporal dev server failed to start: ${err.message}`);
  });

  const moto = await startMoto();

  const bundlePath = join(scratch, 'workflow-bundle.js');
  const bundle = await bundleWorkflowCode({
    workflowsPath: workflowsPaths.all,
    workflowInterceptorModules: workflowInterceptorModules(),
    preloadModules: workflowPreloadModules(),
    logger: quietLogger,
  });
  writeFileSync(bundlePath, bundle.code);

  const stack: TestStack = {
    runId,
    scratch,
    temporalAddress: temporal.address,
    temporalUiUrl: `http://127.0.0.1:${uiPort}`,
    namespace: temporal.namespace ?? 'default',
    ec2Endpoint: moto.endpoint,
    pool,
    zfsRoot,
    runscRoot: join(scratch, 'runsc'),
    workflowBundlePath: bundlePath,
  };
  process.env[STACK_ENV] = JSON.stringify(stack);
  Object.assign(globalThis, { __sbxStack: { stack, temporal, moto } });
}

const quietLogger = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error(message: string) {
    console.error(message);
  },
};
