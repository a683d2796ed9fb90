import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import {
  ExecRequest,
  MAX_COMBINED_OUTPUT_BYTES,
  type ExecResult,
  type PoolHealth,
  type Resources,
  type MadeSnapshot,
} from '../../common/sandbox.js';
import { parseInput } from '../../common/validate.js';
import type { Runtime, Storage } from './backends.js';
import * as inputs from './inputs.js';
import type { SandboxOwners } from './ownership.js';
import type { ProcessStatus } from '../../common/processes.js';
import { killScript, launchScript, parseProcessStatus, statusScript } from './process-scripts.js';
import { sandboxFiles } from './sandbox-files.js';
import type { ToolCallJournal } from './tool-call-journal.js';
import type { ExecOutputStore } from './exec-output-store.js';
import type { OutputPage } from '../../protocol/messages.js';
import { capCombinedOutput } from './output-cap.js';
import { SessionAdmission } from './session-admission.js';
import { WARM_POOL_WORKFLOW } from '../../common/names.js';

export interface HostActivityDeps {
  hostId: string;
  storage: Storage;
  runtime: Runtime;
  maxSessions: number;
  /** Quota of a session whose create sets none. */
  defaultQuotaBytes: number;
  /** Largest quota a create may ask for. */
  maxQuotaBytes: number;
  journal: ToolCallJournal;
  /** Full outputs too large for a result, next to the journal. */
  outputs: ExecOutputStore;
  /** Who owns each sandbox: every per-sandbox activity refuses callers other than the owner. */
  owners: SandboxOwners;
}

/**
 * The activities a host worker serves on `sbx-host-<hostId>`. Each parses its input before anything
 * runs and is safe to retry: the goal state already reached counts as success.
 */
export function createHostActivities({
  hostId,
  storage,
  runtime,
  maxSessions,
  defaultQuotaBytes,
  maxQuotaBytes,
  journal,
  outputs,
  owners,
}: HostActivityDeps) {
  const admission = new SessionAdmission(hostId, maxSessions, () => storage.listSandboxes());
  const files = async (sandboxId: string) => sandboxFiles(runtime, sandboxId, await storage.sandboxPath(sandboxId));

  const runScript = async (sandboxId: string, script: string, env: Record<string, string>, cwd = '/workspace') =>
    runtime.exec(
      sandboxId,
      await storage.sandboxPath(sandboxId),
      ExecRequest.parse({ toolCallId: 'sbx-process', command: ['/bin/sh', '-c', script], env, cwd, timeoutMs: 30_000 }),
    );
  const processStatus = async (sandboxId: string, processId: string) => {
    const result = await runScript(sandboxId, statusScript(), { SBX_PROCESS_ID: processId });
    return parseProcessStatus(processId, result.stdout, result.exitCode);
  };

  /**
   * A create or a fork's copy starts the new sandbox in the same activity (one host round trip less).
   * A start that fails takes the new sandbox away again, so a failed create or fork leaves nothing behind.
   */
  const startMade = async (sandboxId: string, resources: Resources, fresh: boolean) => {
    try {
      await runtime.start(sandboxId, await storage.sandboxPath(sandboxId), resources, { fresh });
    } catch (err) {
      await runtime.destroy(sandboxId).catch(() => undefined);
      await storage.destroySandbox(sandboxId).catch(() => undefined);
      throw err;
    }
  };

  return {
    /**
     * Makes the sandbox's filesystem and, with `start`, starts it: a session's create and a fork's copy
     * in one host call. A retry finds what an earlier attempt made and finishes it.
     */
    async createSandbox(raw: inputs.CreateSandboxInput): Promise<{ hostId: string }> {
      const input = parseInput(inputs.CreateSandboxInput, raw, 'createSandbox input');
      await owners.authorizeCreate(input.sandboxId, input.origin);
      const quotaBytes = input.quotaBytes ?? defaultQuotaBytes;
      if (quotaBytes > maxQuotaBytes) {
        throw sbxFailure(
          SbxErrorType.InvalidArgument,
          `quotaBytes ${quotaBytes} is more than host ${hostId} allows (at most ${maxQuotaBytes}); ask for less.`,
        );
      }
      await admission.admit(input.sandboxId, async (isNew) => {
        await storage.createSandbox(input.sandboxId, input.origin, quotaBytes);
        // A filesystem made just now has no container yet: its start looks for none (one runsc call less).
        if (input.start) await startMade(input.sandboxId, input.start, isNew);
      });
      return { hostId };
    },

    async startSandbox(raw: inputs.StartSandboxInput): Promise<void> {
      const input = parseInput(inputs.StartSandboxInput, raw, 'startSandbox input');
      await owners.authorize(input.sandboxId);
      await runtime.start(input.sandboxId, await storage.sandboxPath(input.sandboxId), input.resources);
      const ctx = Context.current();
      if (ctx.info.workflowType === WARM_POOL_WORKFLOW) {
        // The first command in a fresh gVisor sandbox is slower (~20 ms): a pool's sandbox runs it
        // while it waits, not on the time of the session that claims it.
        await runScript(input.sandboxId, 'true', {}).catch((err) => ctx.log.warn('warm-up command failed', { error: String(err) }));
      }
    },

    /** Kills the sandbox's processes and deletes its container before its removal; the filesystem stays until then. */
    async stopSandbox(raw: inputs.SandboxRef): Promise<void> {
      const input = parseInput(inputs.SandboxRef, raw, 'stopSandbox input');
      await owners.authorize(input.sandboxId);
      await runtime.destroy(input.sandboxId);
      storage.removing(input.sandboxId);
      admission.leave(input.sandboxId);
    },

    async destroySandbox(raw: inputs.SandboxRef): Promise<void> {
      const input = parseInput(inputs.SandboxRef, raw, 'destroySandbox input');
      await owners.authorize(input.sandboxId);
      await runtime.destroy(input.sandboxId);
      await admission.remove(input.sandboxId, () => storage.destroySandbox(input.sandboxId));
      await journal.forget(input.sandboxId);
      await outputs.forget(input.sandboxId);
    },

    async execCommand(raw: inputs.ExecInput): Promise<ExecResult> {
      const input = parseInput(inputs.ExecInput, raw, 'exec request');
      await owners.authorize(input.sandboxId);
      const ctx = Context.current();
      const path = await storage.sandboxPath(input.sandboxId);
      const { sandboxId, request } = input;
      const command = async (signal: AbortSignal) => {
        const output = outputs.capture(sandboxId, request.toolCallId);
        const run = () => runtime.exec(sandboxId, path, request, { signal, onOutput: (stream, chunk) => output.push(stream, chunk) });
        return output.finish(await runOnce(run));
      };
      const runOnce = async (run: () => Promise<ExecResult>) => {
        try {
          return await run();
        } catch (err) {
          // The workflow only sends tool calls to an active session: a sandbox found dead (OOM kill,
          // host reboot) refuses the exec without running anything, so it is started again on its
          // filesystem and the command run once. Checking first would cost every exec a `runsc state`.
          const type = err instanceof ApplicationFailure ? err.type : undefined;
          if (type !== SbxErrorType.InvalidState && type !== SbxErrorType.NotFound) throw err;
          const state = await runtime.state(input.sandboxId);
          if (state !== 'stopped' && state !== 'absent') throw err;
          ctx.log.warn('sandbox was not running; starting it again', { sandboxId: input.sandboxId, state });
          await runtime.start(input.sandboxId, path, input.resources);
          return run();
        }
      };
      // A closed run (the session continued as new) stops waiting; the command runs on for its resend.
      const result = await journal.once(sandboxId, request.toolCallId, command, {
        signal: ctx.cancellationSignal,
        onProgress: () => ctx.heartbeat(),
        orphaned: () => ctx.cancellationDetails?.notFound === true,
      });
      return capCombinedOutput(result, MAX_COMBINED_OUTPUT_BYTES);
    },

    /** One page of a tool call's full output, kept on the host when it was too large for its result. */
    async readOutput(raw: inputs.ReadOutputInput): Promise<OutputPage> {
      const input = parseInput(inputs.ReadOutputInput, raw, 'readOutput request');
      await owners.authorize(input.sandboxId);
      const { ref, stream, offset, maxBytes } = input.request;
      return outputs.read(input.sandboxId, ref, stream, offset, maxBytes);
    },

    async writeFiles(raw: inputs.WriteFilesInput): Promise<void> {
      const input = parseInput(inputs.WriteFilesInput, raw, 'writeFiles request');
      await owners.authorize(input.sandboxId);
      await (await files(input.sandboxId)).writeFiles(input.files);
    },

    async readFile(raw: inputs.ReadFileInput) {
      const input = parseInput(inputs.ReadFileInput, raw, 'readFile request');
      await owners.authorize(input.sandboxId);
      return (await files(input.sandboxId)).readFile(input.request);
    },

    async listDir(raw: inputs.ListDirInput) {
      const input = parseInput(inputs.ListDirInput, raw, 'listDir request');
      await owners.authorize(input.sandboxId);
      return (await files(input.sandboxId)).listDir(input.request);
    },

    async statPath(raw: inputs.StatPathInput) {
      const input = parseInput(inputs.StatPathInput, raw, 'statPath request');
      await owners.authorize(input.sandboxId);
      return (await files(input.sandboxId)).statPath(input.request);
    },

    async deletePath(raw: inputs.DeletePathInput): Promise<void> {
      const input = parseInput(inputs.DeletePathInput, raw, 'deletePath request');
      await owners.authorize(input.sandboxId);
      await (await files(input.sandboxId)).deletePath(input.request);
    },

    async snapshotSandbox(raw: inputs.SnapshotInput): Promise<MadeSnapshot> {
      const input = parseInput(inputs.SnapshotInput, raw, 'snapshot request');
      await owners.authorize(input.sandboxId);
      return storage.snapshot(input.sandboxId, input.name);
    },

    /**
     * gVisor's gofer keeps handles to the files it has seen, so a filesystem rolled back under a
     * running sandbox shows stale or missing entries. The sandbox is discarded anyway, so it is killed
     * hard (no graceful stop), the filesystem rolled back, and a sandbox started afresh on it: it sees
     * exactly the snapshot. A refused rollback (forks in the way) starts it again on the unchanged files.
     * Once nothing of the old sandbox runs, its container is deleted while the filesystem rolls back.
     */
    async rollbackSandbox(raw: inputs.RollbackInput): Promise<void> {
      const input = parseInput(inputs.RollbackInput, raw, 'rollback request');
      await owners.authorize(input.sandboxId);
      const killed = await runtime.kill(input.sandboxId);
      const deleted = runtime.destroy(input.sandboxId);
      deleted.catch(() => undefined);
      if (!killed) await deleted;
      try {
        await storage.rollback(input.sandboxId, input.name);
      } finally {
        await deleted;
        await runtime.start(input.sandboxId, await storage.sandboxPath(input.sandboxId), input.resources, { fresh: true });
      }
    },

    async destroySnapshots(raw: inputs.DestroySnapshotsInput): Promise<void> {
      const input = parseInput(inputs.DestroySnapshotsInput, raw, 'destroySnapshots request');
      await owners.authorize(input.sandboxId);
      for (const name of input.names) await storage.destroySnapshot(input.sandboxId, name);
    },

    async pauseSandbox(raw: inputs.PauseInput): Promise<void> {
      const input = parseInput(inputs.PauseInput, raw, 'pause request');
      await owners.authorize(input.sandboxId);
      if (input.mode === 'freeze') return runtime.pause(input.sandboxId);
      await runtime.checkpoint(input.sandboxId, join(await storage.sandboxPath(input.sandboxId), 'checkpoint'));
    },

    async resumeSandbox(raw: inputs.ResumeInput): Promise<void> {
      const input = parseInput(inputs.ResumeInput, raw, 'resume request');
      await owners.authorize(input.sandboxId);
      if (input.mode === 'freeze') return runtime.resume(input.sandboxId);
      const path = await storage.sandboxPath(input.sandboxId);
      await runtime.restore(input.sandboxId, path, join(path, 'checkpoint'));
    },

    /** Starts a long-running program in the sandbox; launching a running processId again is a no-op. */
    async launchProcess(raw: inputs.LaunchProcessInput): Promise<ProcessStatus> {
      const input = parseInput(inputs.LaunchProcessInput, raw, 'launchProcess request');
      await owners.authorize(input.sandboxId);
      const { processId, command, cwd, env } = input.request;
      await runScript(input.sandboxId, launchScript(), { ...env, SBX_PROCESS_ID: processId, SBX_PROCESS_COMMAND: command }, cwd);
      return processStatus(input.sandboxId, processId);
    },

    async processStatus(raw: inputs.ProcessInput): Promise<ProcessStatus> {
      const input = parseInput(inputs.ProcessInput, raw, 'processStatus request');
      await owners.authorize(input.sandboxId);
      return processStatus(input.sandboxId, input.processId);
    },

    async killProcess(raw: inputs.ProcessInput): Promise<ProcessStatus> {
      const input = parseInput(inputs.ProcessInput, raw, 'killProcess request');
      await owners.authorize(input.sandboxId);
      const result = await runScript(input.sandboxId, killScript(), { SBX_PROCESS_ID: input.processId });
      if (result.exitCode === 3) return parseProcessStatus(input.processId, result.stdout, result.exitCode);
      return processStatus(input.sandboxId, input.processId);
    },

    async sandboxUsedBytes(raw: inputs.SandboxRef): Promise<number> {
      const input = parseInput(inputs.SandboxRef, raw, 'usedBytes request');
      await owners.authorize(input.sandboxId);
      return storage.usedBytes(input.sandboxId);
    },

    /** The owner hands its sandbox to a session: a warm pool's claim. */
    async transferSandbox(raw: inputs.TransferInput): Promise<void> {
      const input = parseInput(inputs.TransferInput, raw, 'transferSandbox request');
      await owners.transfer(input.sandboxId, input.sessionId, input.runId);
    },

    async hostHealth(): Promise<PoolHealth & { hostId: string; sessions: number }> {
      const [health, sessions] = await Promise.all([storage.health(), storage.listSandboxes()]);
      return { ...health, hostId, sessions: sessions.length };
    },
  };
}

export type HostActivities = ReturnType<typeof createHostActivities>;
