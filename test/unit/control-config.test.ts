import { ControlConfig, DEFAULT_MAX_CACHED_WORKFLOWS } from '../../src/workers/control-config.js';

const withPools = (warmPools: unknown) => ControlConfig.safeParse({ fleet: { warmPools } });

describe('ControlConfig fleet.warmPools', () => {
  it('defaults to no warm pools', () => {
    expect(ControlConfig.parse({ fleet: {} }).fleet!.warmPools).toEqual([]);
  });

  it('parses <template>=<size>', () => {
    const result = withPools(['busybox=2']);
    expect(result.success).toBe(true);
    expect(result.data!.fleet!.warmPools).toEqual([{ template: 'busybox', size: 2 }]);
  });

  it('parses several pools of different templates, including size 0', () => {
    expect(withPools(['busybox=2', 'debian-12=0']).data!.fleet!.warmPools).toEqual([
      { template: 'busybox', size: 2 },
      { template: 'debian-12', size: 0 },
    ]);
  });

  it.each(['busybox', 'busybox=-1', 'busybox=', '=2', 'busybox=two', 'busybox=1.5', 'busybox=2=3'])('rejects %j', (spec) => {
    const result = withPools([spec]);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.message).join('\n')).toMatch(/<template>=<size>/);
  });

  it('rejects a bad template name and a size past the pool limit, saying which', () => {
    expect(withPools(['Bad=1']).error!.issues[0]!.message).toMatch(/^template must be/);
    expect(withPools(['busybox=5000']).error!.issues[0]!.message).toBe('size must be at most 1000');
  });

  it('rejects two pools of one template', () => {
    const result = withPools(['busybox=1', 'busybox=2']);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.message)).toContain('give each template one warm pool');
  });
});

describe('ControlConfig maxCachedWorkflows', () => {
  it('defaults to a cache that keeps the worker near 300 MB', () => {
    expect(ControlConfig.parse({}).maxCachedWorkflows).toBe(DEFAULT_MAX_CACHED_WORKFLOWS);
  });

  it('takes 0 (no cache) and rejects a negative or fractional size, and 1 (the smallest SDK cache is 2)', () => {
    expect(ControlConfig.parse({ maxCachedWorkflows: 0 }).maxCachedWorkflows).toBe(0);
    expect(ControlConfig.safeParse({ maxCachedWorkflows: -1 }).success).toBe(false);
    expect(ControlConfig.safeParse({ maxCachedWorkflows: 2.5 }).success).toBe(false);
    expect(ControlConfig.safeParse({ maxCachedWorkflows: 1 }).error!.issues[0]!.message).toMatch(/0 \(no cache\) or at least 2/);
  });
});
