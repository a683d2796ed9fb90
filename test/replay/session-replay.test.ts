import { readdirSync, readFileSync } from 'node:fs';
import { Worker } from '@temporalio/worker';
import { historiesDir } from '../harness/histories.js';
import { testStack } from '../harness/stack.js';

/**
 * Replays recorded histories of the main session scenarios against the current workflow code:
 * a change that would break running sessions (non-determinism) fails here.
 * Record anew with `SBX_RECORD_HISTORIES=1 npm test -- test/e2e` when a change is meant to break them.
 */
describe('session workflow replay', () => {
  const files = readdirSync(historiesDir).filter((file) => file.endsWith('.json'));

  it('has recorded histories to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(2);
  });

  it.each(files)('replays %s deterministically', async (file) => {
    const history = JSON.parse(readFileSync(`${historiesDir}${file}`, 'utf8'));
    await Worker.runReplayHistory({ workflowBundle: { codePath: testStack().workflowBundlePath } }, history, file);
  });
});
