import { ApplicationFailure } from '@temporalio/common';
import type { Instance, Provisioner } from '../../src/activities/control/provisioner.js';

export interface ContractSubject {
  provisioner: Provisioner;
  /** An id in this provider's format that names no instance. */
  unknownInstanceId: string;
  close?: () => Promise<void> | void;
}

/** Host ids the contract uses; a static provisioner must be configured with exactly these. */
export function contractHostIds(runTag: string): string[] {
  return Array.from({ length: 6 }, (_, i) => `h${i}-${runTag}`);
}

/**
 * The behaviour every provisioner shares, run against the real thing (moto's EC2 server, real
 * processes, the static list). `make` receives the host ids the suite will launch.
 */
export function describeProvisionerContract(name: string, make: (hostIds: string[]) => Promise<ContractSubject> | ContractSubject): void {
  describe(`${name} provisioner contract`, () => {
    const runTag = Date.now().toString(36);
    const hostIds = contractHostIds(runTag);
    const fleetA = `fleet-a-${runTag}`;
    const fleetB = `fleet-b-${runTag}`;
    const launched = new Set<string>();
    let subject: ContractSubject;
    let provisioner: Provisioner;

    const launch = async (fleetId: string, hostId: string): Promise<Instance> => {
      const instance = await provisioner.launch({ fleetId, hostId });
      launched.add(instance.instanceId);
      return instance;
    };

    beforeAll(async () => {
      subject = await make(hostIds);
      provisioner = subject.provisioner;
    });

    afterAll(async () => {
      for (const id of launched) await provisioner.terminate(id);
      await subject.close?.();
    });

    it('launches a host that describe then finds running', async () => {
      const instance = await launch(fleetA, hostIds[0]!);
      expect(instance.hostId).toBe(hostIds[0]);
      expect(instance.state).not.toBe('terminated');

      const running = await provisioner.waitUntilRunning(instance.instanceId, { timeoutMs: 60_000 });
      expect(running).toMatchObject({ instanceId: instance.instanceId, hostId: hostIds[0], state: 'running' });
      expect(await provisioner.describe(instance.instanceId)).toMatchObject({ hostId: hostIds[0], state: 'running' });
    });

    it('returns the same instance when a launch is retried', async () => {
      const first = await launch(fleetA, hostIds[1]!);
      const again = await launch(fleetA, hostIds[1]!);
      expect(again.instanceId).toBe(first.instanceId);
      const mine = (await provisioner.list({ fleetId: fleetA })).filter((i) => i.hostId === hostIds[1]);
      expect(mine.map((i) => i.instanceId)).toEqual([first.instanceId]);
    });

    it("lists exactly a fleet's instances", async () => {
      const a1 = await launch(fleetB, hostIds[2]!);
      const a2 = await launch(fleetB, hostIds[3]!);
      const other = await launch(`${fleetB}-x`, hostIds[4]!);

      const listed = await provisioner.list({ fleetId: fleetB });
      expect(listed.map((i) => i.instanceId).sort()).toEqual([a1.instanceId, a2.instanceId].sort());
      expect(listed.map((i) => i.hostId).sort()).toEqual([hostIds[2], hostIds[3]].sort());
      expect((await provisioner.list({ fleetId: `${fleetB}-x` })).map((i) => i.instanceId)).toEqual([other.instanceId]);
    });

    it('terminates idempotently, and the host leaves its fleet', async () => {
      const instance = await launch(fleetA, hostIds[5]!);
      await provisioner.terminate(instance.instanceId);
      await provisioner.terminate(instance.instanceId);

      const after = await provisioner.describe(instance.instanceId);
      expect(after === undefined || after.state === 'terminated').toBe(true);
      const listed = await provisioner.list({ fleetId: fleetA });
      expect(listed.map((i) => i.instanceId)).not.toContain(instance.instanceId);
      await expect(provisioner.waitUntilRunning(instance.instanceId, { timeoutMs: 5_000 })).rejects.toMatchObject({
        type: 'HostLost',
      });
    });

    it('treats an unknown instance as already gone', async () => {
      await expect(provisioner.terminate(subject.unknownInstanceId)).resolves.toBeUndefined();
      expect(await provisioner.describe(subject.unknownInstanceId)).toBeUndefined();
    });

    it('rejects malformed input with InvalidArgument before doing anything', async () => {
      const invalid = async (promise: Promise<unknown>) => {
        const err = await promise.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(ApplicationFailure);
        expect((err as ApplicationFailure).type).toBe('InvalidArgument');
        expect((err as ApplicationFailure).nonRetryable).toBe(true);
      };
      await invalid(provisioner.launch({ fleetId: 'Not A Fleet', hostId: hostIds[0]! }));
      await invalid(provisioner.launch({ fleetId: fleetA, hostId: '../etc' }));
      await invalid(provisioner.describe('not an instance id'));
      await invalid(provisioner.terminate(''));
      await invalid(provisioner.list({ fleetId: '' }));
    });
  });
}
