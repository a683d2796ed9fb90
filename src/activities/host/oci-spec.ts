import { MiB, type Resources } from '../../common/sandbox.js';

/** The subset of the OCI runtime spec (config.json) that sbx writes. */
export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: Record<'bounding' | 'effective' | 'inheritable' | 'permitted', string[]>;
    rlimits: { type: string; hard: number; soft: number }[];
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: { destination: string; type: string; source: string; options?: string[] }[];
  linux: {
    cgroupsPath: string;
    namespaces: { type: string }[];
    resources: {
      cpu: { quota: number; period: number };
      memory: { limit: number };
      pids: { limit: number };
    };
  };
}

export const SANDBOX_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const SANDBOX_WORKDIR = '/workspace';
/** Where the host's helper directory (the `sbx-files` binary) is mounted, read-only, in every sandbox. */
export const SANDBOX_HELPER_DIR = '/.sbx';
/** Every sandbox starts from this environment and nothing of the host's. */
export const SANDBOX_ENV: Readonly<Record<string, string>> = { PATH: SANDBOX_PATH, HOME: '/root', LANG: 'C.UTF-8' };

/**
 * The init process only keeps the sandbox alive for `runsc exec`; it exits cleanly on TERM.
 * `sleep 3600 & wait` (not a bare sleep) lets the trap run at once.
 */
export const SANDBOX_INIT = ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 3600 & wait; done'];

/**
 * What root inside the sandbox keeps: enough for package managers and build tools run as root
 * (file ownership and modes, reading and writing any file, dropping to another user, signalling its
 * processes, binding low ports on the sandbox's own loopback). Docker's default set without
 * NET_RAW, MKNOD, AUDIT_WRITE (gVisor has no audit socket), SETFCAP (no_new_privs makes file
 * capabilities inert), SETPCAP and SYS_CHROOT (nothing an agent's tools need). README "Security
 * model" lists them.
 */
const CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_NET_BIND_SERVICE',
  'CAP_SETGID',
  'CAP_SETUID',
];

const CPU_PERIOD_US = 100_000;

export interface OciSpecOptions {
  sandboxId: string;
  resources: Resources;
  /** Parent of the per-session cgroup (absolute, so it does not depend on the worker's own cgroup). */
  cgroupParent?: string;
  /** Host directory mounted read-only at SANDBOX_HELPER_DIR. */
  helperDir?: string;
}

/** The sandbox's cgroup, relative to the cgroup root: what the spec names and the host reads and removes. */
export function sandboxCgroup(cgroupParent: string, sandboxId: string): string {
  return `${cgroupParent.replace(/\/+$/, '')}/${sandboxId}`;
}

/** The bundle's config.json for one session: a waiting init under the session's resource limits. */
export function buildOciSpec({ sandboxId, resources, cgroupParent = '/sbx', helperDir }: OciSpecOptions): OciSpec {
  return {
    ociVersion: '1.0.0',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [...SANDBOX_INIT],
      env: envList(SANDBOX_ENV),
      cwd: SANDBOX_WORKDIR,
      capabilities: {
        bounding: [...CAPABILITIES],
        effective: [...CAPABILITIES],
        inheritable: [...CAPABILITIES],
        permitted: [...CAPABILITIES],
      },
      rlimits: [
        { type: 'RLIMIT_NOFILE', hard: 4096, soft: 4096 },
        // gVisor enforces this one itself: fork fails with EAGAIN and the sandbox lives on.
        { type: 'RLIMIT_NPROC', hard: resources.maxPids, soft: resources.maxPids },
      ],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: sandboxId,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs' },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      ...(helperDir
        ? [{ destination: SANDBOX_HELPER_DIR, type: 'bind', source: helperDir, options: ['rbind', 'ro', 'nosuid', 'nodev'] }]
        : []),
    ],
    linux: {
      cgroupsPath: sandboxCgroup(cgroupParent, sandboxId),
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      resources: {
        cpu: { quota: Math.max(1000, Math.round(resources.cpus * CPU_PERIOD_US)), period: CPU_PERIOD_US },
        memory: { limit: resources.memoryMb * MiB },
        pids: { limit: hostPidsBackstop(resources.maxPids) },
      },
    },
  };
}

/**
 * The host pids cgroup counts the sandbox kernel's own threads too (about 30-60 when idle, ten and
 * more per sandboxed process on the ptrace platform, growing while processes churn), and hitting it
 * crashes the whole sandbox. So maxPids is enforced inside (RLIMIT_NPROC) and this is only a wide
 * backstop against a runaway sandbox.
 */
export function hostPidsBackstop(maxPids: number): number {
  return maxPids * 64 + 1024;
}

export function envList(env: Readonly<Record<string, string>>): string[] {
  return Object.entries(env).map(([name, value]) => `${name}=${value}`);
}
