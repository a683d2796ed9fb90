import { createNexusServiceClient } from '@temporalio/workflow';
import { sbxSandboxService } from '../../src/nexus/service.js';

/** The bench's Nexus caller: `n` execs of `true`, each timed from the workflow (ms between its tasks). */
export async function nexusExecLoop(input: { endpoint: string; sessionId: string; prefix: string; n: number }): Promise<number[]> {
  const sbx = createNexusServiceClient({ endpoint: input.endpoint, service: sbxSandboxService });
  const times: number[] = [];
  for (let i = 0; i < input.n; i++) {
    const start = Date.now();
    await sbx.executeOperation(
      'exec',
      { sessionId: input.sessionId, toolCallId: `${input.prefix}-${i}`, command: 'true' },
      { scheduleToCloseTimeout: '1 minute' },
    );
    times.push(Date.now() - start);
  }
  return times;
}
