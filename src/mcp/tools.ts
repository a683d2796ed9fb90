import { z } from 'zod';
import { SbxError, SbxErrorType, toSbxError } from '../client/errors.js';
import type { SandboxClient } from '../client/sandbox-client.js';
import { SessionOps, SessionRef, sessionOpSchemas } from '../client/session-ops.js';
import { FileWrite } from '../common/sandbox.js';
import { CreateSessionRequest } from '../protocol/messages.js';

/** One MCP tool: its name, what an agent reads about it, its input schema (zod) and what it does. */
export interface SbxTool {
  name: string;
  description: string;
  /** The request schema; `onSession` tools also take the sessionId beside it. */
  schema: z.ZodType;
  onSession: boolean;
  run(args: Record<string, unknown>): Promise<unknown>;
}

/** The tools of `sbx mcp`: thin calls on the same session workflow, with the client's schemas. */
export function sbxTools(client: SandboxClient): SbxTool[] {
  const ops = new SessionOps(client.temporal);
  return [
    {
      name: 'sandbox_create',
      description:
        'Create an isolated Linux sandbox session (files under /workspace). Returns the session info; use its sessionId in every other tool.',
      schema: CreateSessionRequest,
      onSession: false,
      run: async (args) => (await client.createSession(args as never, { createdBy: 'created through MCP (sbx mcp)' })).info,
    },
    {
      name: 'sandbox_exec',
      description:
        'Run a shell command in the sandbox (cwd /workspace). A string runs through /bin/sh -c. toolCallId makes a retry safe: the same id returns the recorded result instead of running again.',
      schema: sessionOpSchemas.exec,
      onSession: true,
      run: (args) => ops.exec(args),
    },
    {
      name: 'sandbox_write_file',
      description: 'Write one file in the sandbox (a relative path is under /workspace), creating parent directories.',
      schema: FileWrite,
      onSession: true,
      run: async ({ sessionId, ...file }) => {
        await ops.writeFiles({ sessionId, files: [file] });
        return { written: file.path };
      },
    },
    {
      name: 'sandbox_read_file',
      description: 'Read a file of the sandbox, one page of up to 1 MiB from offset; nextOffset starts the next page.',
      schema: sessionOpSchemas.readFile,
      onSession: true,
      run: (args) => ops.readFile(args),
    },
    {
      name: 'sandbox_read_output',
      description:
        "Read an exec's full output when its result was cut (result.fullOutput.ref), one page of up to 1 MiB of stdout or stderr from offset; nextOffset starts the next page.",
      schema: sessionOpSchemas.readOutput,
      onSession: true,
      run: (args) => ops.readOutput(args),
    },
    {
      name: 'sandbox_list_dir',
      description: 'List a directory of the sandbox (default /workspace), one page of entries; nextCursor starts the next.',
      schema: sessionOpSchemas.listDir,
      onSession: true,
      run: (args) => ops.listDir(args),
    },
    {
      name: 'sandbox_turn_complete',
      description: "Snapshot the sandbox at the end of the agent's turn; returns the turn number to roll back or fork to.",
      schema: sessionOpSchemas.turnComplete,
      onSession: true,
      run: (args) => ops.turnComplete(args),
    },
    {
      name: 'sandbox_rollback',
      description:
        'Return the sandbox to a completed turn (or a named snapshot): its files become exactly that snapshot; later turns are gone.',
      schema: sessionOpSchemas.rollback,
      onSession: true,
      run: (args) => ops.rollback(args),
    },
    {
      name: 'sandbox_fork',
      description: 'Create a new session (newSessionId) from a completed turn of this one, to try another plan; this session is untouched.',
      schema: sessionOpSchemas.fork,
      onSession: true,
      run: (args) => ops.fork(args),
    },
    {
      name: 'sandbox_destroy',
      description: 'Destroy the session and its sandbox, with every snapshot. Its id cannot be used again.',
      schema: sessionOpSchemas.destroy,
      onSession: true,
      run: (args) => ops.destroy(args),
    },
  ];
}

type JsonSchema = { type?: string; properties?: Record<string, unknown>; required?: string[]; [key: string]: unknown };

/** The tool's input as JSON Schema, generated from its zod schema (with sessionId when it acts on a session). */
export function toolInputSchema(tool: SbxTool): JsonSchema & { type: 'object' } {
  const { $schema: _ignored, ...schema } = z.toJSONSchema(tool.schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  if (!tool.onSession) return { ...schema, type: 'object' };
  const session = z.toJSONSchema(SessionRef, { io: 'input' }) as JsonSchema;
  return {
    ...schema,
    type: 'object',
    properties: { ...session.properties, ...schema.properties },
    required: ['sessionId', ...(schema.required ?? [])],
  };
}

/** What a failed tool call tells the agent: the sbx error type and what to do about it. */
export function toolError(err: unknown): { type: SbxErrorType; message: string } {
  const error = err instanceof SbxError ? err : toSbxError(err, '?');
  return { type: error.type, message: error.message };
}
