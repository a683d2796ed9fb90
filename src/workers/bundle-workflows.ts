/**
 * `node dist/workers/bundle-workflows.js`: bundles the compiled workflows and their interceptors into
 * dist/workflow-bundle.js, so a control worker starts without running webpack (part of `npm run build`).
 * With `--check` it only says why the bundle is not current, exiting 1, or exits 0 when it is.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { prebuiltBundlePath, staleBundleReason, workflowBundleEntries, workflowBundleInputs } from './workflow-bundle.js';

const out = prebuiltBundlePath();
if (process.argv.includes('--check')) {
  const reason = staleBundleReason(out, workflowBundleEntries());
  if (reason) process.stdout.write(`${reason}\n`);
  process.exit(reason ? 1 : 0);
}
// Loaded only here: the check above stays fast.
const { bundleWorkflowCode, DefaultLogger } = await import('@temporalio/worker');
const { code } = await bundleWorkflowCode({ ...workflowBundleInputs(), logger: new DefaultLogger('WARN') });
// Written whole, then renamed: a control worker starting meanwhile never reads half a bundle.
writeFileSync(`${out}.tmp`, code);
renameSync(`${out}.tmp`, out);
process.stdout.write(`wrote ${out} (${Math.round(code.length / 1024)} KiB)\n`);
