import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalProvisioner, type LocalProvisionerOptions } from '../../src/activities/control/local-provisioner.js';
import { parseLocalInstanceId, processIdentity } from '../../src/activities/control/local-process.js';
import type { Instance } from '../../src/activities/control/provisioner.js';
import { describeProvisionerContract } from './provisioner-contract.js';

/**
 * A real long-running process standing in for `sbx host`: it prints the arguments and environment it
 * got, then idles until signalled.
 */
const standIn = (script = '') => [
  'node',
  '-e',
  `${script} console.log(JSON.stringify({ argv: process.argv.slice(1), mark: process.env.SBX_TEST_MARK })); setInterval(() => {}, 1000)`,
  '--',
];

const stateDir = mkdtempSync(join(tmpdir(), 'sbx-local-provisioner-'));
const options = (overrides: Partial<LocalProvisionerOptions> = {}): LocalProvisionerOptions => ({
  command: standIn(),
  stateDir,
  env: { SBX_TEST_MARK: 'from-provisioner' },
  temporalAddress: '127.0.0.1:7233',
  namespace: 'default',
  ...overrides,
});

afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describeProvisionerContract('local', () => ({
  provisioner: new LocalProvisioner(options()),
  unknownInstanceId: 'local-nobody-999999',
}));

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const isGone = async (instance: Instance) => (await processIdentity(parseLocalInstanceId(instance.instanceId).pid)) === undefined;

describe('local provisioner', () => {
  const started: Array<{ provisioner: LocalProvisioner; instance: Instance }> = [];
  const launch = async (provisioner: LocalProvisioner, fleetId: string, hostId: string) => {
    const instance = await provisioner.launch({ fleetId, hostId });
    started.push({ provisioner, instance });
    return instance;
  };

  afterAll(async () => {
    for (const { provisioner, instance } of started) await provisioner.terminate(instance.instanceId);
  });

  it("starts the host command with the host's flags and environment, output to its log", async () => {
    const provisioner = new LocalProvisioner(options());
    await launch(provisioner, 'flags', 'flagged');
    const printed = await until('the host to print its arguments', () => {
      const log = readFileSync(join(stateDir, 'flagged.log'), 'utf8');
      return log.includes('\n') ? (JSON.parse(log.split('\n')[0]!) as { argv: string[]; mark: string }) : undefined;
    });
    expect(printed.argv).toEqual([
      '--host-id',
      'flagged',
      '--fleet',
      'flags',
      '--temporal-address',
      '127.0.0.1:7233',
      '--namespace',
      'default',
      '--data-root',
      join(stateDir, 'flagged'),
    ]);
    expect(printed.mark).toBe('from-provisioner');
  });

  it("passes a host only the environment it needs, never the control worker's credentials", async () => {
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_SECRET_ACCESS_KEY: 'parent-secret', TEMPORAL_API_KEY: 'parent-key', SBX_LOG_LEVEL: 'warn' });
    try {
      const instance = await launch(new LocalProvisioner(options()), 'env', 'env-host');
      const environ = readFileSync(`/proc/${parseLocalInstanceId(instance.instanceId).pid}/environ`, 'utf8');
      const names = environ
        .split('\0')
        .filter(Boolean)
        .map((entry) => entry.slice(0, entry.indexOf('=')));
      expect(names).toEqual(expect.arrayContaining(['PATH', 'SBX_LOG_LEVEL', 'SBX_TEST_MARK']));
      expect(names).not.toContain('AWS_SECRET_ACCESS_KEY');
      expect(names).not.toContain('TEMPORAL_API_KEY');
      expect(environ).not.toContain('parent-secret');
    } finally {
      process.env = saved;
    }
  });

  it('finds the hosts it started after a restart of the control worker', async () => {
    const before = new LocalProvisioner(options());
    const instance = await launch(before, 'restart', 'survivor');

    const after = new LocalProvisioner(options());
    expect(await after.describe(instance.instanceId)).toMatchObject({ state: 'running' });
    expect((await after.list({ fleetId: 'restart' })).map((i) => i.instanceId)).toEqual([instance.instanceId]);
    expect((await after.launch({ fleetId: 'restart', hostId: 'survivor' })).instanceId).toBe(instance.instanceId);

    await after.terminate(instance.instanceId);
    await until('the host process to exit', async () => ((await isGone(instance)) ? true : undefined));
  });

  it('reports a crashed host as terminated and starts a new process on the next launch', async () => {
    const provisioner = new LocalProvisioner(options());
    const crashed = await launch(provisioner, 'crash', 'fragile');
    process.kill(parseLocalInstanceId(crashed.instanceId).pid, 'SIGKILL');
    await until('the host process to die', async () => ((await isGone(crashed)) ? true : undefined));

    expect(await provisioner.describe(crashed.instanceId)).toMatchObject({ state: 'terminated' });
    expect(await provisioner.list({ fleetId: 'crash' })).toEqual([]);
    const replacement = await launch(provisioner, 'crash', 'fragile');
    expect(replacement.instanceId).not.toBe(crashed.instanceId);
    expect(await provisioner.describe(replacement.instanceId)).toMatchObject({ state: 'running' });
  });

  it('kills a host that ignores SIGTERM once the grace time is over', async () => {
    const provisioner = new LocalProvisioner(options({ command: standIn("process.on('SIGTERM', () => {});"), terminateGraceMs: 500 }));
    const stubborn = await launch(provisioner, 'stubborn', 'stubborn');
    // The handler is installed before the first line is printed.
    await until('the host to install its SIGTERM handler', () =>
      readFileSync(join(stateDir, 'stubborn.log'), 'utf8').includes('\n') ? true : undefined,
    );
    await provisioner.terminate(stubborn.instanceId);
    expect(await isGone(stubborn)).toBe(true);
    expect(await provisioner.describe(stubborn.instanceId)).toBeUndefined();
  });

  it('never signals a process it did not start, even one with the recorded pid', async () => {
    const provisioner = new LocalProvisioner(options());
    const instanceId = `local-imposter-${process.pid}`;
    const identity = await processIdentity(process.pid);
    writeFileSync(
      join(stateDir, 'imposter.json'),
      JSON.stringify({ instanceId, hostId: 'imposter', fleetId: 'x', pid: process.pid, startTime: identity!.startTime, launchedAt: '' }),
    );
    expect(await provisioner.describe(instanceId)).toMatchObject({ state: 'terminated' });
    await provisioner.terminate(instanceId);
    expect(await processIdentity(process.pid)).toBeDefined();
    expect(await provisioner.describe(instanceId)).toBeUndefined();
  });

  it('fails with CommandMissing when the host command does not exist', async () => {
    const provisioner = new LocalProvisioner(options({ command: ['/nonexistent/sbx', 'host'] }));
    await expect(provisioner.launch({ fleetId: 'missing', hostId: 'nowhere' })).rejects.toMatchObject({
      type: 'CommandMissing',
      nonRetryable: true,
    });
    expect(await provisioner.list({ fleetId: 'missing' })).toEqual([]);
  });
});
