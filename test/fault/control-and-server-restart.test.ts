import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { SandboxClient } from '../../src/client/sandbox-client.js';
import { freePort } from '../../src/dev/net.js';
import { startDevServer, type DevServer } from '../../src/dev/temporal-server.js';
import { cli, spawnSbx, type SbxProcess } from '../harness/cli.js';
import { testStack, uniqueNames } from '../harness/stack.js';

/**
 * Every process here is real and separate: its own dev server on a SQLite file, `sbx control` and
 * `sbx host` as operators run them. Processes are killed with SIGKILL, as a crash would.
 */
describe('crashes of the control worker and restarts of the Temporal server', () => {
  const stack = testStack();
  const { id } = uniqueNames(import.meta.url);
  const hostId = `fault-${id}`.slice(0, 40).replace(/-+$/, '');
  const dir = join(stack.scratch, 'fault', id);
  const dbFile = join(dir, 'temporal.db');
  let port: number;
  let server: DevServer;
  const children: SbxProcess[] = [];
  const hostStorage = ['--host-id', hostId, '--zfs-root', `${stack.zfsRoot}/${hostId}`, '--data-root', join(dir, 'host')];

  const startServer = async () => {
    server = await startDevServer({ dbFile, port, uiPort: await freePort() });
  };
  const startControl = async () => {
    const child = await spawnSbx(['control', '--temporal-address', server.address, '--default-host', hostId], 'control worker ready');
    children.push(child);
    return child;
  };
  const startHost = async () => {
    const child = await spawnSbx(['host', '--temporal-address', server.address, ...hostStorage], 'host worker ready');
    children.push(child);
    return child;
  };
  const kill = async ({ child }: SbxProcess) => {
    child.kill('SIGKILL');
    await child;
  };

  beforeAll(async () => {
    mkdirSync(join(dir, 'host'), { recursive: true });
    port = await freePort();
    await startServer();
  });
  afterAll(async () => {
    for (const process of children) if (process.child.exitCode === null) await kill(process);
    await server?.stop();
  });

  it('loses nothing when the control worker is killed mid-command or the server restarts', async () => {
    await execa('node', [cli, 'template', 'import', 'busybox', '--busybox', ...hostStorage]);
    const host = await startHost();
    let control = await startControl();
    let client = await SandboxClient.connect({ address: server.address });

    const { session } = await client.createSession({ sessionId: 'crash-1', template: 'busybox' });
    await session.exec({ toolCallId: 'one', command: 'echo one > /workspace/f.txt' });
    await session.turnComplete();

    // Kill the control worker while a command runs; a new one picks the session up.
    const slow = session.exec({ toolCallId: 'slow', command: 'sleep 3; echo two >> /workspace/f.txt; cat /workspace/f.txt' });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await kill(control);
    control = await startControl();
    expect((await slow).stdout).toBe('one\ntwo\n');
    expect(await session.info()).toMatchObject({ state: 'active', turn: 1, toolCalls: 2 });

    // Stop everything, restart the server on the same SQLite file, then the workers.
    await client.close();
    await kill(control);
    await kill(host);
    await server.stop();
    await startServer();
    await startHost();
    await startControl();
    client = await SandboxClient.connect({ address: server.address });
    const again = client.session('crash-1');
    expect(await again.info()).toMatchObject({ state: 'active', turn: 1, toolCalls: 2 });
    const repeated = await again.exec({ toolCallId: 'slow', command: 'echo must-not-run >> /workspace/f.txt' });
    expect(repeated.stdout).toBe('one\ntwo\n');
    expect(await again.rollback({ turn: 1 })).toEqual({ snapshotId: 'turn-000001', turn: 1 });
    expect((await again.exec({ toolCallId: 'after', command: 'cat /workspace/f.txt' })).stdout).toBe('one\n');
    expect((await again.destroy()).state).toBe('destroyed');
    await client.close();
  });
});
