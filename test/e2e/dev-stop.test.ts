import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { SandboxClient } from '../../src/client/sandbox-client.js';
import { freePort } from '../../src/dev/net.js';
import { runscPath } from '../../src/dev/paths.js';
import { spawnSbx, type SbxProcess } from '../harness/cli.js';
import { testStack, uniqueNames } from '../harness/stack.js';

/** `sbx dev` stops what it started: its sessions' sandboxes are hibernated, not left running. */
describe('sbx dev on Ctrl-C', () => {
  const stack = testStack();
  const { id } = uniqueNames(import.meta.url);
  const dataDir = mkdtempSync(join(stack.scratch, 'dev-'));
  let dev: SbxProcess | undefined;
  let port = 0;

  const start = async (extra: string[] = []) => {
    port = await freePort();
    const args = ['dev', '--no-demo', '--data-dir', dataDir, '--port', String(port), '--ui-port', String(await freePort()), ...extra];
    dev = await spawnSbx([...args, '--zfs-root', `${stack.zfsRoot}/${id}`], 'sbx is up', 120_000);
  };
  const stop = async () => {
    dev!.child.kill('SIGINT');
    const result = await dev!.child;
    dev = undefined;
    return result;
  };
  /** Sandboxes still running (a hibernated one is listed as stopped, its memory on its dataset). */
  const running = async () =>
    (
      JSON.parse((await execa(runscPath(), ['--root', join(dataDir, 'host', 'runsc'), 'list', '--format', 'json'])).stdout || '[]') as {
        id: string;
        status: string;
      }[]
    ).filter((c) => c.status !== 'stopped');
  const runningIds = async () => (await running()).map((c) => c.id);

  afterAll(async () => {
    if (dev) await stop();
  });

  it('hibernates active sessions, and the next sbx dev resumes them with their files and memory', async () => {
    await start();
    let client = await SandboxClient.connect({ address: `127.0.0.1:${port}` });
    const { session, info } = await client.createSession({ sessionId: 'kept-across-dev', template: 'busybox' });
    // sbx dev keeps a warm pool by default: a new user's first create claims a sandbox made before it.
    expect(info.warmClaim).toBeDefined();
    expect(info.sandboxId).toMatch(/^warm-/);
    await session.exec({ toolCallId: 'write', command: 'echo on-disk > /workspace/f; echo in-memory > /tmp/m' });
    await client.close();
    expect((await runningIds()).some((id) => id.startsWith(info.sandboxId!))).toBe(true);

    // The unclaimed warm sandboxes are removed, the session is hibernated: nothing keeps running.
    const result = await stop();
    expect(result.exitCode).toBe(0);
    expect(await running()).toEqual([]);

    await start(['--warm-pool', '0']);
    client = await SandboxClient.connect({ address: `127.0.0.1:${port}` });
    // Without a warm pool a create makes its own sandbox.
    const cold = await client.createSession({ sessionId: 'cold-in-dev', template: 'busybox' });
    expect(cold.info.warmClaim).toBeUndefined();
    await cold.session.destroy();
    const again = client.session('kept-across-dev');
    expect(await again.info()).toMatchObject({ state: 'paused', pauseMode: 'hibernate' });
    await again.resume();
    expect((await again.exec({ toolCallId: 'read', command: 'cat /workspace/f /tmp/m' })).stdout).toBe('on-disk\nin-memory\n');
    await again.destroy();
    await client.close();
  }, 300_000);
});
