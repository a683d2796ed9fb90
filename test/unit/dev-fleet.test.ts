import { devFleet } from '../../src/dev/warm-pool.js';
import { ControlConfig } from '../../src/workers/control-config.js';

describe('devFleet', () => {
  it('makes sbx dev a one-host fleet whose warm pool keeps busybox sandboxes ready', () => {
    const { fleet } = ControlConfig.parse({ fleet: devFleet('local', 2, 50) });
    expect(fleet).toMatchObject({ provisioner: 'static', staticHosts: ['local'], warmPools: [{ template: 'busybox', size: 2 }] });
    expect(fleet!.settings).toMatchObject({ minHosts: 1, maxHosts: 1, warmSlots: 0, maxSessionsPerHost: 50 });
  });

  it('refuses a pool larger than the host holds', () => {
    expect(() => devFleet('local', 51, 50)).toThrow(/does not fit/);
  });

  it('is no fleet at size 0: sessions go straight to the host', () => {
    expect(devFleet('local', 0, 50)).toBeUndefined();
  });
});
