import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Worker } from '@temporalio/worker';

/**
 * Replays each history file against a workflow bundle and prints one JSON line per file.
 * Runs as its own process: protobufjs type checks fail inside jest's module sandbox.
 * Usage: node --import tsx test/replay/replay-histories.ts <bundle.js> <history.json>...
 */
const [bundlePath, ...files] = process.argv.slice(2);
for (const file of files) {
  const history = JSON.parse(readFileSync(file, 'utf8'));
  try {
    // The workflow's own id: the session workflow checks it against its input.
    const workflowId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowId ?? basename(file);
    await Worker.runReplayHistory({ workflowBundle: { codePath: bundlePath! } }, history, workflowId);
    console.log(JSON.stringify({ file: basename(file), ok: true }));
  } catch (err) {
    console.log(
      JSON.stringify({ file: basename(file), ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }),
    );
  }
}
