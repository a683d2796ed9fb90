import { z } from 'zod';
import { RunId, SandboxId, SessionId, SnapshotName } from '../../common/names.js';
import { LaunchProcessRequest, ProcessId } from '../../common/processes.js';
import { ReadOutputRequest } from '../../protocol/messages.js';
import {
  batchRule,
  DeletePathRequest,
  ExecRequest,
  FileWrites,
  ListDirRequest,
  MAX_WRITE_BATCH_BYTES,
  QuotaBytes,
  ReadFileRequest,
  Resources,
  SandboxOrigin,
  serializedBytes,
  StatPathRequest,
} from '../../common/sandbox.js';

/** Inputs of the host activities; each is parsed again on the host before anything runs. */
export const SandboxRef = z.object({ sandboxId: SandboxId });

export const CreateSandboxInput = z.object({
  sandboxId: SandboxId,
  origin: SandboxOrigin,
  quotaBytes: QuotaBytes.optional(),
  /** Start the sandbox once made, with these resources (a fork's copy). */
  start: Resources.optional(),
});
export const StartSandboxInput = z.object({ sandboxId: SandboxId, resources: Resources });
export const ExecInput = z.object({ sandboxId: SandboxId, request: ExecRequest, resources: Resources });
export const WriteFilesInput = SandboxRef.extend({ files: FileWrites }).refine(
  (input) => serializedBytes(input.files) <= MAX_WRITE_BATCH_BYTES,
  { message: batchRule, path: ['files'] },
);
export const ReadFileInput = SandboxRef.extend({ request: ReadFileRequest });
export const ReadOutputInput = SandboxRef.extend({ request: ReadOutputRequest });
export const ListDirInput = SandboxRef.extend({ request: ListDirRequest });
export const StatPathInput = SandboxRef.extend({ request: StatPathRequest });
export const DeletePathInput = SandboxRef.extend({ request: DeletePathRequest });
export const SnapshotInput = z.object({ sandboxId: SandboxId, name: SnapshotName });
export const RollbackInput = z.object({ sandboxId: SandboxId, name: SnapshotName, resources: Resources });
export const DestroySnapshotsInput = z.object({ sandboxId: SandboxId, names: z.array(SnapshotName) });
export const LaunchProcessInput = z.object({ sandboxId: SandboxId, request: LaunchProcessRequest });
export const ProcessInput = z.object({ sandboxId: SandboxId, processId: ProcessId });
export const PauseInput = z.object({ sandboxId: SandboxId, mode: z.enum(['freeze', 'hibernate']) });
export const ResumeInput = PauseInput.extend({ resources: Resources });
/**
 * Ownership of `sandboxId` moves to the session `sessionId`; `runId`, the claiming session's run, lets
 * the host know its chain before the session's first call.
 */
export const TransferInput = z.object({ sandboxId: SandboxId, sessionId: SessionId, runId: RunId.optional() });

export type CreateSandboxInput = z.input<typeof CreateSandboxInput>;
export type StartSandboxInput = z.input<typeof StartSandboxInput>;
export type ExecInput = z.input<typeof ExecInput>;
export type WriteFilesInput = z.input<typeof WriteFilesInput>;
export type ReadFileInput = z.input<typeof ReadFileInput>;
export type ReadOutputInput = z.input<typeof ReadOutputInput>;
export type ListDirInput = z.input<typeof ListDirInput>;
export type StatPathInput = z.input<typeof StatPathInput>;
export type DeletePathInput = z.input<typeof DeletePathInput>;
export type SnapshotInput = z.input<typeof SnapshotInput>;
export type RollbackInput = z.input<typeof RollbackInput>;
export type DestroySnapshotsInput = z.input<typeof DestroySnapshotsInput>;
export type PauseInput = z.input<typeof PauseInput>;
export type ResumeInput = z.input<typeof ResumeInput>;
export type SandboxRef = z.input<typeof SandboxRef>;
export type LaunchProcessInput = z.input<typeof LaunchProcessInput>;
export type ProcessInput = z.input<typeof ProcessInput>;
export type TransferInput = z.input<typeof TransferInput>;
