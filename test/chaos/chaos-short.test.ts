import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { testStack } from '../harness/stack.js';
import { runChaos } from './run.js';

/**
 * A short seeded chaos run (the long one is `npm run chaos`): seeded agent programs on two sessions
 * while host workers and the control worker are killed and the Temporal server is stopped and
 * restarted. Nothing may be lost, diverge from the model, run twice, be left behind or get stuck.
 */
describe('a short chaos run', () => {
  const stack = testStack();

  it('loses nothing, runs no tool call twice and leaves nothing behind', async () => {
    const seed = Number(process.env.SBX_CHAOS_SEED ?? 20261129);
    const dir = join(stack.scratch, 'chaos');
    mkdirSync(dir, { recursive: true });
    const report = await runChaos({ seed, sessions: 2, steps: 20, dir, zfsRoot: `${stack.zfsRoot}/chaos`, faultGapMs: [3_000, 6_000] });
    const summary = report.summary(seed);
    const replay = report.passed ? '' : `\nsteps:\n${report.steps.join('\n')}`;
    expect({ passed: report.passed, summary: summary + replay }).toEqual({ passed: true, summary });
    expect(report.faults.length).toBeGreaterThan(0);
    expect(report.stepsDone).toBe(2 * 20);
  }, 600_000); // about two minutes on an idle machine; a shared one is slower
});
