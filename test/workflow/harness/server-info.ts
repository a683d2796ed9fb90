export const WORKFLOW_ENV = 'SBX_WORKFLOW_TEST_SERVER';

/** What the workflow project's global setup started, handed to each test file through the environment. */
export interface WorkflowTestServer {
  address: string;
  namespace: string;
  bundlePath: string;
  scratch: string;
}

export function workflowTestServer(): WorkflowTestServer {
  const raw = process.env[WORKFLOW_ENV];
  if (!raw) throw new Error(`${WORKFLOW_ENV} is not set: run workflow tests through jest (the workflow project's global setup)`);
  return JSON.parse(raw) as WorkflowTestServer;
}
