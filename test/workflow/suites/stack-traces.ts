import { describe, expect, test } from '@jest/globals';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { SbxErrorType } from '../../../src/common/errors.js';
import { createUpdate, destroyUpdate } from '../../../src/protocol/messages.js';
import { env } from '../harness/current.js';
import { hostRefuses } from '../harness/stubs.js';

describe('stack traces in workflow code (src/workflows/plain-stack-traces.ts)', () => {
  // The SDK's promise hook formats a source-mapped stack for every promise a workflow makes, for this
  // query: a third of the control worker's workflow time. Recording nothing is what makes it cheap.
  test('the SDK records no promise stacks: the stack-trace query answers nothing', async () => {
    const hostId = env.id('h');
    await env.startHost(hostId);
    const { handle } = await env.createSession({ sessionId: env.id('s'), hostId });
    expect(await handle.query('__stack_trace')).toBe('');
    await handle.executeUpdate(destroyUpdate);
  });

  test('a failure raised in workflow code still says where it was raised', async () => {
    env.placement = { placeSession: hostRefuses(SbxErrorType.NoCapacity, 'no host had a free slot') };
    const request = { sessionId: env.id('s') };
    const handle = await env.startSession(request);
    const err = await handle.executeUpdate(createUpdate, { args: [request] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    const stack = (err as WorkflowUpdateFailedError).cause?.stack ?? '';
    expect(stack).toMatch(/could not be created/);
    // Positions are the bundle's, not the sources' (no source map): the names still say where.
    expect(stack).toMatch(/\n {4}at create \(/);
  });
});
