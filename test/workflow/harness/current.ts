import type { WorkflowTestEnv } from './env.js';

/**
 * The environment of the running test file, for suites in test/workflow/suites: a live binding that
 * the file's beforeAll sets, so every suite shares one worker (loading the workflow bundle into a
 * worker costs seconds).
 */
export let env: WorkflowTestEnv;

export function useEnv(current: WorkflowTestEnv): void {
  env = current;
}
