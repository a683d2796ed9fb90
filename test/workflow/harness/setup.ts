import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { startDevServer } from './server.js';
import { WORKFLOW_ENV, type WorkflowTestServer } from './server-info.js';
import { workflowPreloadModules } from '../../../src/workers/workflow-bundle.js';

/**
 * The workflow project's global setup: one dev server and one bundle of sbx's workflows for every
 * test file. Nothing here needs root, zfs or runsc.
 */
export default async function globalSetup(): Promise<void> {
  // The server's port is awaited for only a few seconds: start it before the (CPU-heavy) bundling.
  const temporal = await startDevServer();
  const scratch = mkdtempSync(join(tmpdir(), 'sbx-wf-test-'));
  const bundlePath = await workflowBundle();
  const info: WorkflowTestServer = { address: temporal.address, namespace: temporal.namespace ?? 'default', bundlePath, scratch };
  process.env[WORKFLOW_ENV] = JSON.stringify(info);
  Object.assign(globalThis, { __sbxWorkflowTests: { temporal, scratch } });
}

/**
 * The bundle of sbx's workflows, made once per version of the sources: bundling takes many seconds,
 * and a rerun with unchanged sources reuses it (kept in the system's temporary directory).
 */
async function workflowBundle(): Promise<string> {
  const src = fileURLToPath(new URL('../../../src', import.meta.url));
  const hash = createHash('sha256');
  for (const file of readdirSync(src, { recursive: true, encoding: 'utf8' }).sort()) {
    const path = join(src, file);
    if (statSync(path).isFile()) hash.update(file).update(readFileSync(path));
  }
  hash.update(readFileSync(join(src, '..', 'package-lock.json')));
  const dir = join(tmpdir(), 'sbx-workflow-bundles');
  const path = join(dir, `${hash.digest('hex').slice(0, 16)}.js`);
  if (existsSync(path)) return path;
  const bundle = await bundleWorkflowCode({
    workflowsPath: join(src, 'workflows', 'index.ts'),
    preloadModules: workflowPreloadModules(),
    logger: quietLogger,
  });
  mkdirSync(dir, { recursive: true });
  // Written whole, then renamed: a concurrent run never reads half a bundle.
  const partial = `${path}.${process.pid}`;
  writeFileSync(partial, bundle.code);
  renameSync(partial, path);
  return path;
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
