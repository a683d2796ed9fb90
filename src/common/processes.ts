import { z } from 'zod';
import { ExecRequest, SandboxPath } from './sandbox.js';

/** Long-running programs in a sandbox (dev servers, watchers): shared by workflow, activities and client. */
export const ProcessId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'processId must be 1-63 characters of a-z, 0-9 and "-"');

export const LaunchProcessRequest = z.object({
  processId: ProcessId,
  command: z.string().min(1, 'command must not be empty').max(64 * 1024),
  cwd: SandboxPath.default('/workspace'),
  env: ExecRequest.shape.env,
});
export type LaunchProcessRequest = z.output<typeof LaunchProcessRequest>;

export interface ProcessStatus {
  processId: string;
  status: 'running' | 'exited';
  pid: number;
  exitCode?: number;
  /** The last 4 KiB of its combined output. */
  outputTail: string;
}

