import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createHostActivities } from '../../src/activities/host/activities.js';
import { importBusyboxTemplate } from '../../src/activities/host/busybox-template.js';
import { ExecOutputStore } from '../../src/activities/host/exec-output-store.js';
import { requireFilesHelper } from '../../src/activities/host/files-helper.js';
import { SandboxOwners } from '../../src/activities/host/ownership.js';
import { GvisorRuntime } from '../../src/activities/host/runsc.js';
import { ToolCallJournal } from '../../src/activities/host/tool-call-journal.js';
import { destroyRecursive } from '../../src/activities/host/zfs-cli.js';
import { ZfsStorage } from '../../src/activities/host/zfs-storage.js';
import { SbxErrorType } from '../../src/common/errors.js';
import { sessionWorkflowId } from '../../src/common/names.js';
import { ExecRequest, MiB, Resources } from '../../src/common/sandbox.js';
import { testStack, uniqueNames } from '../harness/stack.js';
import { zfs } from '../harness/zfs.js';

/**
 * The host call that makes and starts a session's sandbox, on real zfs-fuse and runsc: a retry (after a
 * lost answer or a worker that died part-way) finishes what was made, and a start that fails takes
 * everything away again, its slot included.
 */
describe('createSandbox with start (real zfs and runsc)', () => {
  const stack = testStack();
  const { id } = uniqueNames(import.meta.url);
  const root = `${stack.zfsRoot}/${id}`;
  const tag = Date.now().toString(36);
  const storage = new ZfsStorage({ root });
  const runtime = new GvisorRuntime({ runscRoot: stack.runscRoot, helperDir: requireFilesHelper() });
  const resources = Resources.parse({ cpus: 1, memoryMb: 256, maxPids: 64 });
  const made: string[] = [];

  /** A host worker's activities; a new one is what a restarted worker serves. */
  const host = (maxSessions: number) => {
    const data = join(stack.scratch, id);
    const owners = new SandboxOwners(
      join(data, 'owners'),
      (sandboxId) => storage.sandboxExists(sandboxId),
      async (_w, runId) => ({ chain: runId, running: true }),
    );
    return {
      owners,
      acts: createHostActivities({
        hostId: 'h',
        storage,
        runtime,
        maxSessions,
        defaultQuotaBytes: 256 * MiB,
        maxQuotaBytes: 1024 * MiB,
        journal: new ToolCallJournal(join(data, 'tool-calls')),
        outputs: new ExecOutputStore(join(data, 'tool-outputs')),
        owners,
      }),
    };
  };
  /** Runs `fn` as the session workflow of `sandboxId` calls it. */
  const asSession = <T>(sandboxId: string, fn: () => Promise<T>) =>
    new MockActivityEnvironment({ workflowExecution: { workflowId: sessionWorkflowId(sandboxId), runId: `run-${sandboxId}` } }).run(fn);
  const createStarted = (acts: ReturnType<typeof host>['acts'], sandboxId: string, template = 'busybox') => {
    made.push(sandboxId);
    return asSession(sandboxId, () => acts.createSandbox({ sandboxId, origin: { kind: 'template', template }, start: resources }));
  };
  const echo = async (sandboxId: string) =>
    (await runtime.exec(sandboxId, await storage.sandboxPath(sandboxId), ExecRequest.parse({ toolCallId: 't', command: 'echo alive' })))
      .stdout;
  const containers = async () => (await runtime.list()).filter((name) => name.startsWith(tag));
  const failureType = (p: Promise<unknown>) =>
    p.then(
      () => 'succeeded',
      (err: { type?: string }) => err.type,
    );

  beforeAll(async () => {
    await storage.init();
    await importBusyboxTemplate(storage, 'busybox');
    // A template without a shell: the sandbox's init cannot run, so its start fails after the clone.
    const hollow = join(stack.scratch, `${id}-hollow`);
    await mkdir(join(hollow, 'workspace'), { recursive: true });
    await storage.importTemplate('hollow', { dir: hollow });
    await mkdir(join(stack.scratch, id, 'owners'), { recursive: true });
  });

  afterAll(async () => {
    for (const sandboxId of made) await runtime.destroy(sandboxId).catch(() => undefined);
    await destroyRecursive(root);
  });

  it('a retry of a create that finished finds its sandbox running: one sandbox, one slot', async () => {
    const sandboxId = `${tag}-twice`;
    await createStarted(host(1).acts, sandboxId);
    // The answer was lost and the worker restarted: the retry reaches a host that is full with this very sandbox.
    const restarted = host(1).acts;
    await createStarted(restarted, sandboxId);
    expect(await runtime.state(sandboxId)).toBe('running');
    expect(await echo(sandboxId)).toBe('alive\n');
    expect(await containers()).toEqual([sandboxId]);
    expect(await storage.listSandboxes()).toEqual([sandboxId]);
    expect(await failureType(createStarted(restarted, `${tag}-other`))).toBe(SbxErrorType.MaxSessionsReached);
    await asSession(sandboxId, () => restarted.destroySandbox({ sandboxId }));
    expect(await containers()).toEqual([]);
    expect(await storage.listSandboxes()).toEqual([]);
  });

  it('a create whose worker died after the clone, before the start, is finished by its retry', async () => {
    const sandboxId = `${tag}-halfway`;
    const first = host(2);
    // What the first attempt got done before its worker died: the owner recorded and the filesystem made.
    await asSession(sandboxId, () => first.owners.authorizeCreate(sandboxId, { kind: 'template', template: 'busybox' }));
    await storage.createSandbox(sandboxId, { kind: 'template', template: 'busybox' });
    expect(await containers()).toEqual([]);

    const restarted = host(2).acts;
    await createStarted(restarted, sandboxId);
    expect(await runtime.state(sandboxId)).toBe('running');
    expect(await echo(sandboxId)).toBe('alive\n');
    expect(await containers()).toEqual([sandboxId]);
    await asSession(sandboxId, () => restarted.destroySandbox({ sandboxId }));
  });

  it('a start that fails leaves no dataset and no container, and frees the slot', async () => {
    const { acts } = host(1);
    const sandboxId = `${tag}-broken`;
    expect(await failureType(createStarted(acts, sandboxId, 'hollow'))).toBe(SbxErrorType.CommandFailed);
    expect(await containers()).toEqual([]);
    expect(await storage.listSandboxes()).toEqual([]);
    expect(await zfs('list', '-H', '-o', 'name', '-r', `${root}/sessions`)).toBe(`${root}/sessions`);
    // The saga's undo runs after it and finds nothing left to do.
    await asSession(sandboxId, () => acts.destroySandbox({ sandboxId }));

    // The one slot of this host is free again.
    const next = `${tag}-next`;
    await createStarted(acts, next);
    expect(await echo(next)).toBe('alive\n');
    await asSession(next, () => acts.destroySandbox({ sandboxId: next }));
  });
});
