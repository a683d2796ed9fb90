import { basename } from 'node:path';

export const STACK_ENV = 'SBX_TEST_STACK';
/** A namespace other than sbx's, made by the global setup, for Nexus caller workflows. */
export const CALLER_NAMESPACE = 'agents';

/** What the global setup started, handed to every test file through the environment. */
export interface TestStack {
  runId: string;
  scratch: string;
  temporalAddress: string;
  /** The dev server's Web UI. */
  temporalUiUrl: string;
  namespace: string;
  ec2Endpoint: string;
  pool: string;
  /** Scratch dataset for this run; every test file works below it. */
  zfsRoot: string;
  runscRoot: string;
  workflowBundlePath: string;
}

export function testStack(): TestStack {
  const raw = process.env[STACK_ENV];
  if (!raw) throw new Error(`${STACK_ENV} is not set: run integration tests through 'npm test' (jest global setup)`);
  return JSON.parse(raw) as TestStack;
}

/** Names unique to one test file (and run), so files can run side by side. */
export function uniqueNames(testFileUrl: string): { taskQueue: string; id: string } {
  const file = basename(new URL(testFileUrl).pathname)
    .replace(/\.test\.ts$/, '')
    .replace(/[^a-z0-9]+/g, '-');
  const id = `${file}-${Date.now().toString(36)}`.slice(0, 40);
  return { taskQueue: `sbx-test-${id}`, id };
}
