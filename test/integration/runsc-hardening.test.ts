import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { requireFilesHelper } from '../../src/activities/host/files-helper.js';
import { GvisorRuntime } from '../../src/activities/host/runsc.js';
import { runscPath } from '../../src/dev/paths.js';
import { ExecRequest } from '../../src/common/sandbox.js';
import { runscSandbox } from '../harness/runsc-sandbox.js';

/** What the sandbox's root may do and what it may not, and where its writes land. */
describe('gVisor sandbox hardening (real runsc on a ZFS dataset)', () => {
  const sandbox = runscSandbox(import.meta.url);
  const { stack, sessionId, dataset, runtime } = sandbox;

  const sh = async (command: string) => {
    const result = await runtime.exec(sessionId, sandbox.bundle, ExecRequest.parse({ toolCallId: 't', command: `set -e\n${command}` }));
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: '' });
    return result.stdout;
  };
  const mountpoint = async (name: string) => (await execa('zfs', ['get', '-H', '-o', 'value', 'mountpoint', name])).stdout.trim();

  it('writes anywhere in the root land on the dataset, so a ZFS snapshot holds them (no rootfs overlay)', async () => {
    await sh('echo in-workspace > /workspace/w.txt; mkdir -p /opt/app; echo in-opt > /opt/app/o.txt; echo in-etc >> /etc/motd');
    await execa('zfs', ['snapshot', `${dataset}@probe`]);
    await execa('zfs', ['clone', `${dataset}@probe`, `${dataset}/probe`]);
    const copy = join(await mountpoint(`${dataset}/probe`), 'rootfs');
    expect(await readFile(join(copy, 'workspace', 'w.txt'), 'utf8')).toBe('in-workspace\n');
    expect(await readFile(join(copy, 'opt', 'app', 'o.txt'), 'utf8')).toBe('in-opt\n');
    expect(await readFile(join(copy, 'etc', 'motd'), 'utf8')).toBe('in-etc\n');
  });

  it('root keeps exactly the capabilities package managers need', async () => {
    // CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, NET_BIND_SERVICE: bits 0,1,3-7,10.
    expect(await sh('grep -E "^Cap(Eff|Bnd)" /proc/self/status')).toBe('CapEff:\t00000000000004fb\nCapBnd:\t00000000000004fb\n');
    const chroot = await runtime.exec(sessionId, sandbox.bundle, ExecRequest.parse({ toolCallId: 't', command: 'chroot / true' }));
    expect(chroot.exitCode).not.toBe(0);
    expect(chroot.stderr).toMatch(/not permitted/);
  });

  it('package-manager work as root still works: owners, modes, setgid dirs, tar -p, su to a user, kill', async () => {
    await sh('echo "app:x:1000:1000::/tmp:/bin/sh" >> /etc/passwd; echo "app:x:1000:" >> /etc/group');
    const modes = await sh(`cd /workspace
      echo x > owned; chown 1000:1000 owned; chmod 0640 owned
      mkdir shared; chown app:0 shared; chmod 2775 shared
      mkdir suid; cp /bin/busybox suid/id; chmod 4755 suid/id
      stat -c '%a %u %g %n' owned shared suid/id`);
    expect(modes).toBe('640 1000 1000 owned\n2775 1000 0 shared\n4755 0 0 suid/id\n');

    // Root reads and appends to a file whose mode denies everyone.
    expect(
      await sh('cd /workspace; echo secret > locked; chown 1000 locked; chmod 000 locked; cat locked; echo more >> locked; cat locked'),
    ).toBe('secret\nsecret\nmore\n');

    // An archive unpacked as root keeps owners, modes and times, as dpkg and npm do.
    const unpacked = await sh(`cd /workspace
      mkdir pkg; echo a > pkg/a; chown 1000:1000 pkg/a; chmod 0604 pkg/a; touch -d '2020-01-02 03:04:05' pkg/a
      tar -cf pkg.tar pkg; rm -rf pkg; tar -xpf pkg.tar
      stat -c '%a %u %g %y' pkg/a`);
    expect(unpacked).toMatch(/^604 1000 1000 2020-01-02 03:04:05/);

    // Dropping to a user works; its files take a setgid directory's group; a setuid-root binary does
    // not raise it back (no_new_privs).
    expect(await sh('su app -c "id -u; /workspace/suid/id -u; touch /workspace/shared/by-app; stat -c %g /workspace/shared/by-app"')).toBe(
      '1000\n1000\n0\n',
    );
    expect(await sh('su app -c "touch /workspace/owned-by-root" 2>&1 || echo refused')).toBe(
      'touch: /workspace/owned-by-root: Permission denied\nrefused\n',
    );

    // Root signals another user's process.
    expect(
      await sh(
        'su app -c "sleep 300" </dev/null >/dev/null 2>&1 & p=$!; until [ "$(stat -c %u /proc/$p)" = 1000 ]; do sleep 0.1; done; kill $p; wait $p 2>/dev/null || echo "ended $?"',
      ),
    ).toBe('ended 143\n');
  });

  it('a runsc call that hangs on a wedged sandbox ends in a typed error instead of holding the slot', async () => {
    const impatient = new GvisorRuntime({
      runscRoot: stack.runscRoot,
      helperDir: requireFilesHelper(),
      timeoutsMs: { call: 3_000, image: 3_000 },
    });
    const { stdout } = await execa(runscPath(), ['--root', stack.runscRoot, 'state', `${sessionId}.sbx`]);
    const sandboxPid = (JSON.parse(stdout) as { pid: number }).pid;
    process.kill(sandboxPid, 'SIGSTOP');
    try {
      await expect(impatient.pause(sessionId)).rejects.toMatchObject({
        type: 'CommandFailed',
        message: expect.stringMatching(/did not finish within 3 s/),
      });
    } finally {
      process.kill(sandboxPid, 'SIGCONT');
    }
  });
});
