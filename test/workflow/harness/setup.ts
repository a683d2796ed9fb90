import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { startDevServer } from './server.js';
import { WORKFLOW_ENV, type WorkflowTestServer } from './server-info.js';

/**
 * The workflow project's global setup: one dev server and one bundle of sbx's workflows for every
 * test file. Nothing here needs root, zfs or runsc.
 */
export default async function globalSetup(): Promise<void> {
  // The server's port is awaited for only a few seconds: start it before the (CPU-heavy) bundling.
  const temporal = await startDevServer();
  const scratch = mkdtempSync(join(tmpdir(), 'sbx-wf-test-'));
  const bundlePath = join(scratch, 'workflow-bundle.js');
  const workflowsPath = fileURLToPath(new URL('../../../src/workflows/index.ts', import.meta.url));
  const bundle = await bundleWorkflowCode({ workflowsPath, logger: quietLogger });
  writeFileSync(bundlePath, bundle.code);
  const info: WorkflowTestServer = { address: temporal.address, namespace: temporal.namespace ?? 'default', bundlePath, scratch };
  process.env[WORKFLOW_ENV] = JSON.stringify(info);
  Object.assign(globalThis, { __sbxWorkflowTests: { temporal, scratch } });
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
