import { z } from 'zod';
import { ExecRequest, execArgsProblem, MAX_ARG_BYTES, SandboxPath, utf8Bytes } from './sandbox.js';
import { lazySchema } from './lazy-schema.js';

/** Long-running programs in a sandbox (dev servers, watchers): shared by workflow, activities and client. */
export const ProcessId = lazySchema(() =>
  z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'processId must be 1-63 characters of a-z, 0-9 and "-"'),
);

/** The command travels to the launcher as one env entry (SBX_PROCESS_COMMAND=…), so it has that entry's limit. */
const MAX_LAUNCH_COMMAND_BYTES = MAX_ARG_BYTES - 64;

export const LaunchProcessRequest = lazySchema(() =>
  z
    .object({
      processId: ProcessId,
      command: z
        .string()
        .min(1, 'command must not be empty')
        .refine(
          (c) => utf8Bytes(c) <= MAX_LAUNCH_COMMAND_BYTES,
          `command may be at most ${MAX_LAUNCH_COMMAND_BYTES} bytes: put a longer script in a file with writeFiles`,
        )
        .refine((c) => !c.includes('\0'), 'command must not contain NUL bytes'),
      cwd: SandboxPath.default('/workspace'),
      env: ExecRequest.shape.env,
    })
    .superRefine((request, ctx) => {
      const problem = execArgsProblem([], { ...request.env, SBX_PROCESS_ID: request.processId, SBX_PROCESS_COMMAND: request.command });
      if (problem) ctx.addIssue({ code: 'custom', message: problem.message, path: ['env'] });
    }),
);
export type LaunchProcessRequest = z.output<typeof LaunchProcessRequest>;

export interface ProcessStatus {
  processId: string;
  status: 'running' | 'exited';
  pid: number;
  exitCode?: number;
  /** The last 4 KiB of its combined output. */
  outputTail: string;
}
