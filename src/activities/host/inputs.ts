import { z } from 'zod';
import { SessionId, SnapshotName } from '../../common/names.js';
import { LaunchProcessRequest, ProcessId } from '../../common/processes.js';
import { ExecRequest, ListDirRequest, ReadFileRequest, Resources, SandboxOrigin, WriteFilesRequest } from '../../common/sandbox.js';

/** Inputs of the host activities; each is parsed again on the host before anything runs. */
export const SessionRef = z.object({ sessionId: SessionId });

export const CreateSandboxInput = z.object({
  sessionId: SessionId,
  origin: SandboxOrigin,
  quotaBytes: z.number().int().positive().optional(),
});
export const StartSandboxInput = z.object({ sessionId: SessionId, resources: Resources });
export const ExecInput = z.object({ sessionId: SessionId, request: ExecRequest, resources: Resources });
export const WriteFilesInput = SessionRef.extend(WriteFilesRequest.shape);
export const ReadFileInput = SessionRef.extend({ request: ReadFileRequest });
export const ListDirInput = SessionRef.extend({ request: ListDirRequest });
export const SnapshotInput = z.object({ sessionId: SessionId, name: SnapshotName });
export const RollbackInput = z.object({ sessionId: SessionId, name: SnapshotName, resources: Resources });
export const DestroySnapshotsInput = z.object({ sessionId: SessionId, names: z.array(SnapshotName) });
export const LaunchProcessInput = z.object({ sessionId: SessionId, request: LaunchProcessRequest });
export const ProcessInput = z.object({ sessionId: SessionId, processId: ProcessId });
export const PauseInput = z.object({ sessionId: SessionId, mode: z.enum(['freeze', 'hibernate']) });
export const ResumeInput = PauseInput.extend({ resources: Resources });

export type CreateSandboxInput = z.input<typeof CreateSandboxInput>;
export type StartSandboxInput = z.input<typeof StartSandboxInput>;
export type ExecInput = z.input<typeof ExecInput>;
export type WriteFilesInput = z.input<typeof WriteFilesInput>;
export type ReadFileInput = z.input<typeof ReadFileInput>;
export type ListDirInput = z.input<typeof ListDirInput>;
export type SnapshotInput = z.input<typeof SnapshotInput>;
export type RollbackInput = z.input<typeof RollbackInput>;
export type DestroySnapshotsInput = z.input<typeof DestroySnapshotsInput>;
export type PauseInput = z.input<typeof PauseInput>;
export type ResumeInput = z.input<typeof ResumeInput>;
export type SessionRef = z.input<typeof SessionRef>;
export type LaunchProcessInput = z.input<typeof LaunchProcessInput>;
export type ProcessInput = z.input<typeof ProcessInput>;
