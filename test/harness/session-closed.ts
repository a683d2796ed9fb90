import type { SandboxClient } from '../../src/client/sandbox-client.js';
import { sessionWorkflowId } from '../../src/common/names.js';

/**
 * Waits for a session's workflow to close. A destroy answers once the sandbox is killed; its dataset
 * is removed after, and the workflow closes when that is done.
 */
export async function sessionClosed(client: SandboxClient, sessionId: string): Promise<void> {
  await client.temporal.workflow.getHandle(sessionWorkflowId(sessionId)).result();
}
