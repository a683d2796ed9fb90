import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, open, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildOciSpec, sandboxCgroup } from '../../src/activities/host/oci-spec.js';
import { pinnedFlags } from '../../src/activities/host/runsc.js';
import { runscPath } from '../../src/dev/paths.js';
import { runZfs, runZfsRetryingBusy } from '../../src/activities/host/zfs-cli.js';
import { runCommand } from '../../src/activities/host/spawner.js';
import { Resources } from '../../src/common/sandbox.js';

const DEFAULT_RESOURCES = Resources.parse({});
const CGROUP_FS = '/sys/fs/cgroup';

/**
 * The bare commands sbx wraps, run straight from the CLIs on a scratch dataset and a scratch runsc
 * root: the baseline each orchestrated operation is compared with. Same runsc flags and OCI spec as
 * the product (GvisorRuntime), none of its state checks, retries or bookkeeping.
 */
export class RawSandboxes {
  private readonly flags: string[];

  constructor(
    readonly runscRoot: string,
    /** Parent dataset of the raw sandboxes, e.g. `sbx/bench-x/raw`. */
    readonly parent: string,
    /** The template snapshot raw sandboxes are cloned from. */
    readonly templateSnapshot: string,
    readonly cgroupParent: string,
    private readonly scratch: string,
  ) {
    this.flags = ['--root', runscRoot, '--network', 'none', ...pinnedFlags(runscPath())];
  }

  dataset(name: string): string {
    return `${this.parent}/${name}`;
  }

  cid(name: string): string {
    return `${name}.raw`;
  }

  async zfs(args: string[], retryBusy = false): Promise<string> {
    const result = retryBusy ? await runZfsRetryingBusy(args) : await runZfs('zfs', args);
    if (result.exitCode !== 0) throw new Error(`zfs ${args.join(' ')} failed: ${result.stderr.trim()}`);
    return result.stdout;
  }

  async mountpoint(name: string): Promise<string> {
    return (await this.zfs(['get', '-H', '-o', 'value', 'mountpoint', this.dataset(name)])).trim();
  }

  async runsc(args: string[], reject = true): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    // Started as sbx starts its commands (sbx-spawn, no fork of this large process): raw is the command's own cost.
    const result = await runCommand([runscPath(), ...this.flags, ...args], { timeoutMs: 10 * 60_000 });
    const out = { exitCode: result.exitCode ?? -1, stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '') };
    if (reject && out.exitCode !== 0)
      throw new Error(`runsc ${args.join(' ')} failed: ${out.stderr.trim().split('\n').slice(-2).join(' ')}`);
    return out;
  }

  /** create/restore keep their stdio for the sandbox's lifetime: /dev/null and a scratch file, as the product does. */
  async runscDetached(args: string[]): Promise<void> {
    const dir = await mkdtemp(join(this.scratch, 'runsc-'));
    const log = await open(join(dir, 'stderr'), 'w+');
    try {
      const child = spawn(runscPath(), [...this.flags, ...args], { stdio: ['ignore', 'ignore', log.fd], detached: true });
      const [code] = (await once(child, 'exit')) as [number | null];
      if (code !== 0)
        throw new Error(
          `runsc ${args.join(' ')} failed: ${(await readFile(join(dir, 'stderr'), 'utf8')).trim().split('\n').slice(-2).join(' ')}`,
        );
    } finally {
      await log.close();
      await rm(dir, { recursive: true, force: true });
    }
  }

  async writeSpec(name: string): Promise<string> {
    const bundle = await this.mountpoint(name);
    const spec = buildOciSpec({ sandboxId: name, resources: DEFAULT_RESOURCES, cgroupParent: this.cgroupParent });
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
    return bundle;
  }

  async createStart(name: string, bundle: string): Promise<void> {
    await this.runscDetached(['create', '--bundle', bundle, this.cid(name)]);
    await this.runsc(['start', this.cid(name)]);
  }

  /** zfs clone + config.json + runsc create + runsc start. */
  async create(name: string): Promise<void> {
    await this.zfs(['clone', this.templateSnapshot, this.dataset(name)]);
    await this.createStart(name, await this.writeSpec(name));
  }

  async exec(name: string, command: string): Promise<string> {
    const { stdout } = await this.runsc(['exec', '--user', '0:0', '--cwd', '/workspace', this.cid(name), '/bin/sh', '-c', command]);
    return stdout;
  }

  async snapshot(name: string, snap: string): Promise<void> {
    await this.zfs(['snapshot', `${this.dataset(name)}@${snap}`]);
  }

  async stop(name: string): Promise<void> {
    await this.runsc(['kill', '--all', this.cid(name), 'KILL'], false);
    await this.runsc(['delete', '--force', this.cid(name)]);
  }

  /** runsc kill + delete, zfs rollback -r, runsc create + start (what rollbackSandbox wraps). */
  async rollback(name: string, snap: string): Promise<void> {
    await this.stop(name);
    await this.zfs(['rollback', '-r', `${this.dataset(name)}@${snap}`], true);
    await this.createStart(name, await this.mountpoint(name));
  }

  /** zfs clone of the snapshot (what a fork is), then config.json + create + start. */
  async fork(name: string, snap: string, into: string): Promise<void> {
    await this.zfs(['clone', `${this.dataset(name)}@${snap}`, this.dataset(into)]);
    await this.createStart(into, await this.writeSpec(into));
  }

  async pause(name: string): Promise<void> {
    await this.runsc(['pause', this.cid(name)]);
  }

  async resume(name: string): Promise<void> {
    await this.runsc(['resume', this.cid(name)]);
  }

  async imagePath(name: string): Promise<string> {
    const dir = join(await this.mountpoint(name), 'checkpoint');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return dir;
  }

  async checkpoint(name: string, imagePath: string): Promise<void> {
    await this.runsc(['checkpoint', '--image-path', imagePath, this.cid(name)]);
  }

  /** runsc delete (restore refuses an existing id) + runsc restore --detach. */
  async restore(name: string, imagePath: string): Promise<void> {
    await this.runsc(['delete', '--force', this.cid(name)], false);
    await this.runscDetached(['restore', '--bundle', await this.mountpoint(name), '--image-path', imagePath, '--detach', this.cid(name)]);
  }

  /** runsc kill + delete, zfs destroy -r. */
  async destroy(name: string): Promise<void> {
    await this.stop(name);
    await this.zfs(['destroy', '-r', this.dataset(name)], true);
  }

  async removeCgroup(name: string): Promise<void> {
    const controllers = await readdir(CGROUP_FS).catch(() => [] as string[]);
    for (const dir of ['', ...controllers].map((c) => join(CGROUP_FS, c, sandboxCgroup(this.cgroupParent, name))))
      await rmdir(dir).catch(() => undefined);
  }
}

/** Kills and deletes every container under a runsc root (cleanup; ids are ours alone there). */
export async function killAllContainers(runscRoot: string): Promise<number> {
  const listed = await execa(runscPath(), ['--root', runscRoot, 'list', '--format', 'json'], { reject: false });
  if (listed.exitCode !== 0) return 0;
  const containers = (JSON.parse(String(listed.stdout) || '[]') ?? []) as { id: string }[];
  for (const { id } of containers) {
    await execa(runscPath(), ['--root', runscRoot, 'kill', '--all', id, 'KILL'], { reject: false });
    await execa(runscPath(), ['--root', runscRoot, 'delete', '--force', id], { reject: false });
  }
  return containers.length;
}
