import { describe, expect, it } from '@jest/globals';
import { ServiceError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import * as nexus from 'nexus-rpc';
import { SbxError, SbxErrorType } from '../../src/client/errors.js';
import { SandboxClient } from '../../src/client/sandbox-client.js';
import { sbxTools, toolInputSchema } from '../../src/mcp/tools.js';
import { createdByNexus } from '../../src/nexus/caller.js';
import { toNexusError } from '../../src/nexus/handler.js';
import { sbxErrorOf } from '../../src/nexus/service.js';

describe('Nexus errors', () => {
  it('gives the caller the sbx type of a failure it must act on', () => {
    const err = toNexusError(new SbxError(SbxErrorType.SnapshotNotFound, 'no snapshot named x'));
    expect(err).toBeInstanceOf(nexus.OperationError);
    expect(sbxErrorOf(err)).toEqual({ type: 'SnapshotNotFound', message: 'no snapshot named x' });
  });

  it('lets Nexus retry Busy and faults of Temporal itself', () => {
    const busy = toNexusError(new SbxError(SbxErrorType.Busy, 'already runs 4 tool calls'));
    expect(busy).toBeInstanceOf(nexus.HandlerError);
    expect((busy as nexus.HandlerError).retryable).toBe(true);
    const down = new ServiceError('connection refused');
    expect(toNexusError(new SbxError(SbxErrorType.CommandFailed, 'connection refused', { cause: down }))).toBe(down);
  });

  it('reads an sbx type anywhere down a failure chain, and nothing else', () => {
    const inner = ApplicationFailure.create({ type: 'NotFound', message: 'no such file' });
    expect(sbxErrorOf(new Error('outer', { cause: new Error('mid', { cause: inner }) }))?.type).toBe('NotFound');
    expect(sbxErrorOf(ApplicationFailure.create({ type: 'SomethingElse', message: 'x' }))).toBeUndefined();
    expect(sbxErrorOf('not an error')).toBeUndefined();
  });
});

describe('who created a session through Nexus', () => {
  it('names the caller workflow and namespace from its link', () => {
    const url = new URL('temporal:///namespaces/agents/workflows/agent-a%2F1/run-1/history?referenceType=EventReference&eventID=5');
    expect(createdByNexus([{ url, type: 'temporal.api.common.v1.Link.WorkflowEvent' }])).toBe(
      'created through Nexus by workflow agent-a/1 in namespace agents',
    );
    expect(createdByNexus([])).toBe('created through Nexus');
  });
});

describe('MCP tool schemas', () => {
  const tools = sbxTools({ temporal: {} } as unknown as SandboxClient);
  it('are objects generated from the client schemas, with sessionId beside the request', () => {
    const exec = toolInputSchema(tools.find((t) => t.name === 'sandbox_exec')!);
    expect(exec.type).toBe('object');
    expect(exec.required).toEqual(['sessionId', 'toolCallId', 'command']);
    expect(exec.properties?.sessionId).toMatchObject({ type: 'string', pattern: expect.any(String) });
    const create = toolInputSchema(tools.find((t) => t.name === 'sandbox_create')!);
    expect(create.required).toEqual(['sessionId']);
    for (const tool of tools) expect(toolInputSchema(tool).type).toBe('object');
  });
});
