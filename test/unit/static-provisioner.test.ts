import { StaticProvisioner } from '../../src/activities/control/static-provisioner.js';
import { describeProvisionerContract } from '../integration/provisioner-contract.js';

describeProvisionerContract('static', (hostIds) => ({
  provisioner: new StaticProvisioner({ hosts: hostIds.map((hostId) => ({ hostId })) }),
  unknownInstanceId: 'static-no-such-host',
}));

describe('static provisioner', () => {
  const hosts = [{ hostId: 'box-1', address: '10.0.0.5' }, { hostId: 'box-2' }];

  it('launches only configured hosts', async () => {
    const provisioner = new StaticProvisioner({ hosts });
    await expect(provisioner.launch({ fleetId: 'f', hostId: 'box-9' })).rejects.toMatchObject({ type: 'InvalidArgument' });
    expect(await provisioner.launch({ fleetId: 'f', hostId: 'box-1' })).toEqual({
      instanceId: 'static-box-1',
      hostId: 'box-1',
      state: 'running',
      privateIp: '10.0.0.5',
    });
  });

  it('keeps a host in one fleet at a time, and lets it back in after terminate', async () => {
    const provisioner = new StaticProvisioner({ hosts });
    await provisioner.launch({ fleetId: 'f', hostId: 'box-2' });
    await expect(provisioner.launch({ fleetId: 'g', hostId: 'box-2' })).rejects.toMatchObject({ type: 'InvalidState' });
    await provisioner.terminate('static-box-2');
    expect(await provisioner.launch({ fleetId: 'g', hostId: 'box-2' })).toMatchObject({ state: 'running' });
    expect((await provisioner.list({ fleetId: 'g' })).map((i) => i.hostId)).toEqual(['box-2']);
    expect(await provisioner.list({ fleetId: 'f' })).toEqual([]);
  });

  it('refuses a list with a duplicate host', () => {
    expect(() => new StaticProvisioner({ hosts: [{ hostId: 'a' }, { hostId: 'a' }] })).toThrow(/unique/);
  });
});
