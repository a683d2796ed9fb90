import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Session } from '../../src/client/session.js';
import { SbxErrorType } from '../../src/common/errors.js';
import { DEFAULT_HELPER_DIR } from '../../src/activities/host/files-helper.js';
import { sandboxFiles, type SandboxFiles } from '../../src/activities/host/sandbox-files.js';
import { FileWrite, ListDirRequest, ReadFileRequest } from '../../src/common/sandbox.js';
import { startSbx, type SbxTestStack } from '../harness/sbx.js';
import { testStack, uniqueNames } from '../harness/stack.js';

/**
 * The agent is the adversary: it plants links, swaps directories and makes special files, and then
 * asks the file API to follow them. Every attack ends in a typed error or a result confined to the
 * sandbox, and a canary directory on the host is never read or changed.
 */
describe('a hostile sandbox and the file API (real runsc on ZFS)', () => {
  const stack = testStack();
  const { id } = uniqueNames(import.meta.url);
  const canary = join(stack.scratch, `canary-${id}`);
  const secret = `host secret ${id}\n`;
  let sbx: SbxTestStack;
  let session: Session;
  let files: SandboxFiles;
  let calls = 0;

  const sh = async (command: string) => {
    const result = await session.exec({ toolCallId: `sh-${++calls}`, command });
    expect(result).toMatchObject({ status: 'exited' });
    return result;
  };
  /** What an attempt came to: the content it read, or the type of its error. */
  const outcome = (promise: Promise<{ content: string } | unknown>) =>
    promise.then(
      (value) => (value && typeof value === 'object' && 'content' in value ? (value as { content: string }).content : 'ok'),
      (err: { type?: string }) => err.type ?? String(err),
    );
  const canaryState = () =>
    readdirSync(canary, { recursive: true, encoding: 'utf8' })
      .sort()
      .map((name) => {
        const path = join(canary, name);
        const info = statSync(path);
        return `${name} ${info.mode} ${info.isFile() ? createHash('sha256').update(readFileSync(path)).digest('hex') : ''}`;
      });
  let canaryBefore: string[];

  beforeAll(async () => {
    mkdirSync(join(canary, 'sub'), { recursive: true });
    writeFileSync(join(canary, 'secret'), secret);
    writeFileSync(join(canary, 'sub', 'secret'), secret);
    canaryBefore = canaryState();
    sbx = await startSbx(import.meta.url);
    const created = await sbx.client.createSession({ sessionId: `hostile-${id}`.slice(0, 63), template: 'busybox' });
    session = created.session;
    files = sandboxFiles(sbx.host.runtime, created.info.sandboxId, await sbx.host.storage.sandboxPath(created.info.sandboxId));
  });

  afterEach(() => {
    expect(canaryState()).toEqual(canaryBefore);
  });

  afterAll(async () => {
    await session?.destroy().catch(() => undefined);
    await sbx?.stop();
  });

  it('walks x/../d through a link to /etc and stays inside, for read, write and list', async () => {
    await sh('ln -sf /etc /workspace/d');
    const hostHostname = readFileSync('/etc/hostname', 'utf8');
    expect(await outcome(session.readFile('/workspace/x/../d/hostname'))).toBe(SbxErrorType.NotFound);
    expect(await outcome(session.writeFiles([{ path: 'x/../d/pwned', content: 'pwned' }]))).toBe(SbxErrorType.NotFound);
    expect(await outcome(session.listDir('x/../d'))).toBe(SbxErrorType.NotFound);
    expect(await outcome(session.deletePath('x/../d/hostname'))).toBe(SbxErrorType.NotFound);
    expect(await outcome(session.statPath('x/../d/hostname'))).toBe(SbxErrorType.NotFound);
    // Through the link itself the sandbox's own /etc is what is seen and written.
    await session.writeFiles([{ path: 'd/hostname', content: 'sandbox\n' }]);
    expect((await session.readFile('d/hostname')).content).toBe('sandbox\n');
    expect(readFileSync('/etc/hostname', 'utf8')).toBe(hostHostname);
    expect((await sh('cat /etc/hostname')).stdout).toBe('sandbox\n');
  });

  it('stats and deletes links themselves, never what they name on the host', async () => {
    await sh(
      `ln -s ${canary} /workspace/del-link && ln -s ${canary}/secret /workspace/del-final && mkdir -p /workspace/tree/a && echo x > /workspace/tree/a/f`,
    );
    expect(await session.statPath('del-link')).toMatchObject({ type: 'symlink', target: canary });
    expect(await outcome(session.deletePath('del-link/secret'))).toBe(SbxErrorType.NotFound);
    expect(await outcome(session.deletePath(`del-link/sub`, { recursive: true }))).toBe(SbxErrorType.NotFound);
    await session.deletePath('del-final');
    await session.deletePath('del-link');
    expect(await outcome(session.statPath('del-link'))).toBe(SbxErrorType.NotFound);
    expect(await outcome(session.deletePath('tree'))).toBe(SbxErrorType.InvalidArgument);
    await session.deletePath('tree', { recursive: true });
    expect(await outcome(session.statPath('tree'))).toBe(SbxErrorType.NotFound);
    expect(await outcome(session.deletePath('/'))).toBe(SbxErrorType.InvalidArgument);
    expect(await session.statPath('/workspace')).toMatchObject({ type: 'dir' });
  });

  it('follows absolute and relative links to host paths at every depth only inside the sandbox', async () => {
    const ups = '../'.repeat(12);
    await sh(
      [
        'mkdir -p /workspace/a/b/c',
        `ln -s ${canary} /workspace/abs`,
        `ln -s ${canary} /workspace/a/b/c/abs`,
        `ln -s ${ups}${canary.slice(1)} /workspace/rel`,
        `ln -s ${ups}${canary.slice(1)} /workspace/a/b/rel`,
        `ln -s ${canary}/secret /workspace/final`,
        `ln -s ${ups}${canary.slice(1)}/sub/secret /workspace/a/final`,
      ].join(' && '),
    );
    for (const link of ['abs', 'a/b/c/abs', 'rel', 'a/b/rel']) {
      expect(await outcome(session.readFile(`${link}/secret`))).toBe(SbxErrorType.NotFound);
      expect(await outcome(session.readFile(`/workspace/${link}/sub/secret`))).toBe(SbxErrorType.NotFound);
      expect(await outcome(session.listDir(link))).toBe(SbxErrorType.NotFound);
      // The link dangles inside the sandbox, as it would for any program there.
      expect(await outcome(session.writeFiles([{ path: `${link}/planted`, content: 'pwned' }]))).toBe(SbxErrorType.NotFound);
    }
    // A write through a final link replaces the file it names, which is a path inside the sandbox.
    for (const link of ['final', 'a/final']) {
      expect(await outcome(session.readFile(link))).toBe(SbxErrorType.NotFound);
      await session.writeFiles([{ path: link, content: `via ${link}` }]);
    }
    expect((await sh(`cat ${canary}/secret ${canary}/sub/secret`)).stdout).toBe('via finalvia a/final');
    // Made inside by the agent, the link's target is an ordinary sandbox file.
    await sh(`echo inside > ${canary}/secret`);
    expect((await session.readFile('final')).content).toBe('inside\n');
    await session.writeFiles([{ path: 'abs/planted', content: 'inside' }]);
    expect((await sh(`cat ${canary}/planted`)).stdout).toBe('inside');
  });

  it('keeps .. from climbing past the root', async () => {
    const hostPasswd = readFileSync('/etc/passwd', 'utf8');
    const read = await outcome(session.readFile('../../../../../../../etc/passwd'));
    expect(read).not.toBe(hostPasswd);
    await session.writeFiles([{ path: '/../../../../tmp/past-root', content: 'root of the sandbox' }]);
    expect((await sh('cat /tmp/past-root')).stdout).toBe('root of the sandbox');
    expect(await outcome(session.listDir('/../../..'))).not.toBe(SbxErrorType.PathEscape);
    const top = await session.listDir('/../../..');
    expect(top.entries.map((e) => e.name)).toContain('workspace');
  });

  it('reads and writes 1,000 times while the sandbox swaps a directory and a link to the host', async () => {
    await sh(`mkdir -p /workspace/swap-real && echo inside > /workspace/swap-real/file`);
    // A short pause per round keeps zfs-fuse (one daemon for the whole machine) answering other tests.
    const loop = `while :; do rm -rf /workspace/swap; ln -s ${canary} /workspace/swap; usleep 2000; rm -f /workspace/swap; ln -s /workspace/swap-real /workspace/swap; usleep 2000; rm -f /workspace/swap; mkdir -p /workspace/swap; usleep 2000; done`;
    await session.launchProcess({ processId: 'swapper', command: loop });
    const attempts = Array.from({ length: 1000 }, (_, i) => i);
    const seen = new Set<string>();
    for (let i = 0; i < attempts.length; i += 4) {
      const batch = attempts
        .slice(i, i + 4)
        .map((n) =>
          n % 2 === 0
            ? outcome(files.readFile(ReadFileRequest.parse({ path: n % 4 === 0 ? 'swap/secret' : 'swap/file' })))
            : outcome(files.writeFiles([FileWrite.parse({ path: `swap/secret`, content: `race ${n}` })])),
        );
      for (const result of await Promise.all(batch)) seen.add(result);
    }
    await session.killProcess('swapper');
    expect(seen.has(secret)).toBe(false);
    // Only confined outcomes: sandbox content, its own writes, or typed errors.
    for (const result of seen) expect(result).toMatch(/^(ok|inside\n|race \d+|NotFound|InvalidArgument)$/);
  }, 600_000);

  it('reads a hard link as the file it shares', async () => {
    await sh('echo shared > /workspace/orig && ln /workspace/orig /workspace/hard');
    expect((await session.readFile('hard')).content).toBe('shared\n');
    expect((await session.listDir('/workspace')).entries.map((e) => e.name)).toContain('orig');
  });

  it('refuses FIFOs and devices at once, without hanging', async () => {
    await sh('mkfifo /workspace/fifo');
    expect(await outcome(session.readFile('fifo'))).toBe(SbxErrorType.InvalidArgument);
    expect(await outcome(session.writeFiles([{ path: 'fifo', content: 'x' }]))).toBe(SbxErrorType.InvalidArgument);
    expect(await outcome(session.readFile('/dev/zero'))).toBe(SbxErrorType.InvalidArgument);
    expect(await outcome(session.readFile('/dev/null'))).toBe(SbxErrorType.InvalidArgument);
    const listed = (await session.listDir('/workspace')).entries.find((e) => e.name === 'fifo');
    expect(listed).toMatchObject({ type: 'other' });
  });

  it('reads a file that grows while it is read, within the page size', async () => {
    await session.launchProcess({ processId: 'grower', command: 'while :; do echo 0123456789abcdef >> /workspace/grow; done' });
    await sh('sleep 1');
    const page = await session.readFile('grow', { maxBytes: 4096 });
    expect(Buffer.byteLength(page.content)).toBeLessThanOrEqual(4096);
    expect(page.size).toBeGreaterThan(0);
    await session.killProcess('grower');
  });

  it('is coherent with the running sandbox both ways', async () => {
    await sh('printf old > /workspace/f1');
    expect((await session.readFile('f1')).content).toBe('old');
    await session.writeFiles([{ path: 'f1', content: 'new' }]);
    expect((await sh('cat /workspace/f1')).stdout).toBe('new');
    await sh('printf newer > /workspace/f1');
    expect((await session.readFile('f1')).content).toBe('newer');
  });

  it('writes a batch all or nothing', async () => {
    await sh('echo file > /workspace/blocker');
    const failed = await outcome(
      session.writeFiles([
        { path: 'batch/first', content: 'one' },
        { path: 'blocker/under-a-file', content: 'two' },
      ]),
    );
    expect(failed).toBe(SbxErrorType.InvalidArgument);
    expect(await outcome(session.readFile('batch/first'))).toBe(SbxErrorType.NotFound);
    expect(await outcome(session.listDir('batch'))).toBe(SbxErrorType.NotFound);
  });

  it('keeps links that stay inside working', async () => {
    await sh(
      'mkdir -p /workspace/real && echo via-link > /workspace/real/f && ln -s /workspace/real /workspace/abs-in && ln -s real /workspace/rel-in',
    );
    expect((await session.readFile('abs-in/f')).content).toBe('via-link\n');
    expect((await session.readFile('rel-in/f')).content).toBe('via-link\n');
    await session.writeFiles([{ path: 'rel-in/g', content: 'written via link' }]);
    expect((await sh('cat /workspace/real/g')).stdout).toBe('written via link');
  });

  it('refuses setuid, setgid and sticky modes before anything runs', async () => {
    for (const mode of [0o4755, 0o2755, 0o1777]) {
      expect(await outcome(session.writeFiles([{ path: `suid-${mode}`, content: 'x', mode }]))).toBe(SbxErrorType.InvalidArgument);
      expect(await outcome(session.readFile(`suid-${mode}`))).toBe(SbxErrorType.NotFound);
    }
    await session.writeFiles([{ path: 'tool.sh', content: '#!/bin/sh\necho ran\n', mode: 0o755 }]);
    expect((await sh('/workspace/tool.sh')).stdout).toBe('ran\n');
  });

  it('reads a large file in pages and lists a large directory in pages', async () => {
    await sh(
      'dd if=/dev/urandom of=/workspace/big bs=1024 count=2560 2>/dev/null; mkdir /workspace/many; cd /workspace/many; i=0; while [ $i -lt 1500 ]; do : > f$i; i=$((i+1)); done',
    );
    const pieces: Buffer[] = [];
    let offset: number | undefined = 0;
    while (offset !== undefined) {
      const page = await session.readFile('big', { offset, encoding: 'base64' });
      pieces.push(Buffer.from(page.content, 'base64'));
      offset = page.nextOffset;
    }
    const whole = Buffer.concat(pieces);
    expect(pieces.length).toBe(3);
    expect(whole.length).toBe(Number((await sh('wc -c < /workspace/big')).stdout.trim()));
    const digest = (await sh('sha256sum /workspace/big')).stdout.split(' ')[0];
    expect(createHash('sha256').update(whole).digest('hex')).toBe(digest);

    const names: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await session.listDir('many', cursor ? { cursor } : {});
      names.push(...page.entries.map((e) => e.name));
      cursor = page.nextCursor;
    } while (cursor);
    expect(names).toHaveLength(1500);
    expect(new Set(names).size).toBe(1500);
    expect(ListDirRequest.safeParse({ path: 'many', limit: 5000 }).success).toBe(false);
  });

  // Last: a successful attack here would break this sandbox's own file API.
  it("cannot change the host's helper through its mount, and a restart gives the sandbox a fresh copy", async () => {
    const hostHelper = join(DEFAULT_HELPER_DIR, 'sbx-files');
    const digest = () => createHash('sha256').update(readFileSync(hostHelper)).digest('hex');
    const before = digest();
    await sh('ln /.sbx/sbx-files /workspace/helper-link; echo x > /.sbx/sbx-files; rm -rf /.sbx; mkdir -p /.sbx; true');
    await outcome(session.writeFiles([{ path: '/.sbx/sbx-files', content: '#!/bin/sh\necho owned\n' }]));
    expect(digest()).toBe(before);
    await session.turnComplete();
    await session.rollback({ turn: (await session.info()).turn });
    expect((await session.readFile('orig')).content).toBe('shared\n');
  });
});
