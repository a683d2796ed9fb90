import { cpSync, mkdirSync, readFileSync, symlinkSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { SandboxClient } from '../../src/client/sandbox-client.js';
import { spawnSbx, type SbxProcess } from '../harness/cli.js';
import { startSbx, type SbxTestStack } from '../harness/sbx.js';
import { testStack, uniqueNames } from '../harness/stack.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const dist = join(repo, 'dist');

/**
 * `sbx control` loads the workflow bundle the build made instead of running webpack at every start
 * (seconds to minutes on a loaded machine, all of it added to recovery after a crash), and never a
 * bundle older than the compiled workflows.
 */
describe('sbx control and the prebuilt workflow bundle', () => {
  const stack = testStack();
  const { id, taskQueue } = uniqueNames(import.meta.url);
  let sbx: SbxTestStack;
  const children: SbxProcess['child'][] = [];
  const controlArgs = (hostId: string) => [
    'control',
    '--temporal-address',
    stack.temporalAddress,
    '--namespace',
    stack.namespace,
    '--task-queue',
    taskQueue,
    '--default-host',
    hostId,
  ];

  beforeAll(async () => {
    // What `npm run build` does after tsc, for a dist/ compiled by hand.
    await execa('node', [join(dist, 'workers', 'bundle-workflows.js')]);
    sbx = await startSbx(import.meta.url);
  }, 300_000);
  afterAll(async () => {
    for (const child of children) {
      child.kill('SIGKILL');
      await child;
    }
    await sbx?.stop();
  });

  it('starts from the bundle the build made, with the query-advance guard in it, and runs a session', async () => {
    const bundle = join(dist, 'workflow-bundle.js');
    expect(readFileSync(bundle, 'utf8')).toMatch(/importInterceptors[^]*query-advance-guard\.js/);

    const control = await spawnSbx(controlArgs(sbx.hostId), 'control worker ready', 240_000);
    children.push(control.child);
    const used = control
      .output()
      .split('\n')
      .find((line) => line.includes('workflow bundle') || line.includes('bundling the workflows'));
    expect(JSON.parse(used!)).toMatchObject({ msg: 'using the prebuilt workflow bundle', bundle });

    const client = await SandboxClient.connect({ address: stack.temporalAddress, namespace: stack.namespace, taskQueue });
    try {
      const { session } = await client.createSession({ sessionId: `bundle-${id}`, template: 'busybox' });
      expect((await session.exec({ toolCallId: 'one', command: 'echo from-the-bundle' })).stdout).toBe('from-the-bundle\n');
      expect((await session.destroy()).state).toBe('destroyed');
    } finally {
      await client.close();
    }
  }, 300_000);

  it('bundles at start, saying why, when the bundle is older than the compiled workflows', async () => {
    // A copy of the build whose bundle predates its workflows; node_modules and the package type come from the repo.
    const copy = join(stack.scratch, 'stale-build', id);
    mkdirSync(copy, { recursive: true });
    cpSync(dist, join(copy, 'dist'), { recursive: true });
    cpSync(join(repo, 'package.json'), join(copy, 'package.json'));
    symlinkSync(join(repo, 'node_modules'), join(copy, 'node_modules'));
    const bundle = join(copy, 'dist', 'workflow-bundle.js');
    utimesSync(bundle, 1000, 1000);

    const child = execa('node', [join(copy, 'dist', 'cli', 'main.js'), ...controlArgs(sbx.hostId)], {
      reject: false,
      all: true,
      buffer: false,
      env: { SBX_LOG_FORMAT: 'json' },
    });
    children.push(child);
    const line = await new Promise<string>((resolve, reject) => {
      let output = '';
      child.all!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const complete = output.split('\n').slice(0, -1);
        const found = complete.find((l) => l.includes('workflow bundle') || l.includes('bundling the workflows'));
        if (found) resolve(found);
      });
      void child.then(() => reject(new Error(`sbx control exited before it chose its workflow code:\n${output}`)));
    });
    child.kill('SIGKILL');
    const { msg, reason } = JSON.parse(line);
    expect(msg).toBe('bundling the workflows at start: the prebuilt bundle is not current (npm run build makes it)');
    expect(reason.startsWith(join(copy, 'dist', 'workflows'))).toBe(true);
    expect(reason.endsWith(` is newer than ${bundle}`)).toBe(true);
  }, 120_000);
});
