import { buildOciSpec, SANDBOX_ENV } from '../../src/activities/host/oci-spec.js';
import { Resources } from '../../src/common/sandbox.js';

const resources = Resources.parse({ cpus: 1.5, memoryMb: 64, maxPids: 100 });

describe('buildOciSpec', () => {
  const spec = buildOciSpec({ sandboxId: 'sess-1', resources });

  it('roots the sandbox in the bundle rootfs, writable, named after the session', () => {
    expect(spec.root).toEqual({ path: 'rootfs', readonly: false });
    expect(spec.hostname).toBe('sess-1');
    expect(spec.process.cwd).toBe('/workspace');
  });

  it('runs an init that only waits and stops cleanly on TERM', () => {
    const [shell, flag, script] = spec.process.args;
    expect([shell, flag]).toEqual(['/bin/sh', '-c']);
    expect(script).toContain('trap "exit 0" TERM');
    expect(script).toContain('wait');
  });

  it('gives the sandbox a fixed environment and nothing of the host', () => {
    process.env.SBX_SECRET_FOR_TEST = 'leak';
    const env = buildOciSpec({ sandboxId: 'sess-1', resources }).process.env;
    delete process.env.SBX_SECRET_FOR_TEST;
    expect(env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8']);
    expect(Object.keys(SANDBOX_ENV)).toEqual(['PATH', 'HOME', 'LANG']);
    expect(JSON.stringify(spec)).not.toContain(process.cwd());
  });

  it('forbids gaining privileges and keeps only an ordinary root capability set', () => {
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(spec.process.user).toEqual({ uid: 0, gid: 0 });
    for (const set of Object.values(spec.process.capabilities)) {
      expect(set).not.toContain('CAP_SYS_ADMIN');
      expect(set).not.toContain('CAP_NET_RAW');
      expect(set).not.toContain('CAP_NET_ADMIN');
    }
  });

  it('gets its own network namespace (runsc --network none leaves it loopback only)', () => {
    expect(spec.linux.namespaces.map((n) => n.type)).toEqual(expect.arrayContaining(['network', 'pid', 'mount', 'ipc', 'uts']));
  });

  it('turns Resources into cgroup limits', () => {
    expect(spec.linux.resources.cpu).toEqual({ quota: 150_000, period: 100_000 });
    expect(spec.linux.resources.memory.limit).toBe(64 * 1024 * 1024);
  });

  it('limits processes inside the sandbox and keeps the host pids cgroup as a wide backstop', () => {
    expect(spec.process.rlimits).toContainEqual({ type: 'RLIMIT_NPROC', soft: 100, hard: 100 });
    expect(spec.linux.resources.pids.limit).toBeGreaterThan(100 * 16);
  });

  it('puts every session in its own cgroup', () => {
    expect(spec.linux.cgroupsPath).toBe('/sbx/sess-1');
    expect(buildOciSpec({ sandboxId: 'sess-2', resources }).linux.cgroupsPath).toBe('/sbx/sess-2');
    expect(buildOciSpec({ sandboxId: 'sess-2', resources, cgroupParent: '/sbx/host-a/' }).linux.cgroupsPath).toBe('/sbx/host-a/sess-2');
  });

  it('never sets a cpu quota below what the kernel accepts', () => {
    const tiny = buildOciSpec({ sandboxId: 's', resources: { ...resources, cpus: 0.001 } });
    expect(tiny.linux.resources.cpu.quota).toBeGreaterThanOrEqual(1000);
  });
});
