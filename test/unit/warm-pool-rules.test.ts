import { WarmPoolConfig } from '../../src/protocol/warm-pool-config.js';
import {
  chooseForClaim,
  REFILL_DELAY_MS,
  refillBackoffMs,
  refillWaitMs,
  sandboxesToTrim,
  sandboxesToWarm,
  specOf,
  type WarmSandbox,
} from '../../src/workflows/warm-pool-rules.js';

const config = WarmPoolConfig.parse({ size: 3, maxConcurrentWarming: 2 });
const SPEC = specOf(config.resources, config.quotaBytes);
const OTHER = specOf({ cpus: 2, memoryMb: 1024, maxPids: 256 }, undefined);

function sbx(sandboxId: string, patch: Partial<WarmSandbox> = {}): WarmSandbox {
  return { sandboxId, state: 'ready', spec: SPEC, hostId: 'h1', readyAt: 0, ...patch };
}

describe('specOf', () => {
  it('is stable for equal settings and differs when any of them differs', () => {
    const base = { cpus: 1, memoryMb: 512, maxPids: 256 };
    expect(specOf(base, undefined)).toBe(specOf({ ...base }, undefined));
    const variants = [
      specOf(base, undefined),
      specOf({ ...base, cpus: 2 }, undefined),
      specOf({ ...base, memoryMb: 1024 }, undefined),
      specOf({ ...base, maxPids: 512 }, undefined),
      specOf(base, 1 << 30),
    ];
    expect(new Set(variants).size).toBe(variants.length);
  });

  it('matches the spec of a config parsed with defaults', () => {
    expect(SPEC).toBe(specOf({ cpus: 1, memoryMb: 512, maxPids: 256 }, undefined));
  });
});

describe('sandboxesToWarm', () => {
  it('fills up to the size, within maxConcurrentWarming', () => {
    expect(sandboxesToWarm([], config)).toBe(2);
    expect(sandboxesToWarm([], { ...config, maxConcurrentWarming: 5 })).toBe(3);
    expect(sandboxesToWarm([sbx('a'), sbx('b')], config)).toBe(1);
    expect(sandboxesToWarm([sbx('a'), sbx('b'), sbx('c')], config)).toBe(0);
  });

  it('counts warming sandboxes as coming, and against the concurrency limit', () => {
    expect(sandboxesToWarm([sbx('a', { state: 'warming' })], config)).toBe(1);
    expect(sandboxesToWarm([sbx('a', { state: 'warming' }), sbx('b', { state: 'warming' })], config)).toBe(0);
    expect(sandboxesToWarm([sbx('a', { state: 'warming' }), sbx('b'), sbx('c')], config)).toBe(0);
    // A warming sandbox of another spec does not fill the pool, but does take a concurrency slot.
    expect(sandboxesToWarm([sbx('a', { state: 'warming', spec: OTHER })], config)).toBe(1);
  });

  it('does not count claimed or stale-spec ready sandboxes towards the size', () => {
    const sandboxes = [sbx('a', { state: 'claimed', sessionId: 's1' }), sbx('b', { spec: OTHER }), sbx('c')];
    expect(sandboxesToWarm(sandboxes, { ...config, maxConcurrentWarming: 10 })).toBe(2);
  });

  it('warms nothing at size 0, and never a negative count when over size', () => {
    const empty = WarmPoolConfig.parse({ size: 0 });
    expect(sandboxesToWarm([], empty)).toBe(0);
    expect(sandboxesToWarm([sbx('a'), sbx('b')], empty)).toBe(0);
  });
});

describe('a refill after a claim', () => {
  const size2 = { ...config, size: 2 };
  const claimed = (claimedAt: number) => sbx('c', { state: 'claimed', sessionId: 's1', claimedAt });

  it('waits REFILL_DELAY_MS after the claim while the pool still has a ready sandbox', () => {
    const sandboxes = [sbx('a'), claimed(1000)];
    expect(sandboxesToWarm(sandboxes, size2, 1000)).toBe(0);
    expect(refillWaitMs(sandboxes, size2, 1000)).toBe(REFILL_DELAY_MS);
    expect(refillWaitMs(sandboxes, size2, 1000 + REFILL_DELAY_MS - 1)).toBe(1);
    expect(sandboxesToWarm(sandboxes, size2, 1000 + REFILL_DELAY_MS)).toBe(1);
    expect(refillWaitMs(sandboxes, size2, 1000 + REFILL_DELAY_MS)).toBe(0);
  });

  it('starts at once when the claim left no ready sandbox: the next create would be cold', () => {
    const sandboxes = [claimed(1000), sbx('d', { state: 'claimed', sessionId: 's2', claimedAt: 1001 })];
    expect(sandboxesToWarm(sandboxes, size2, 1001)).toBe(2);
    expect(refillWaitMs(sandboxes, size2, 1001)).toBe(0);
  });

  it('does not wait without a time (runs from before the wait) or for claims made before it existed', () => {
    expect(sandboxesToWarm([sbx('a'), claimed(1000)], size2)).toBe(1);
    expect(sandboxesToWarm([sbx('a'), sbx('c', { state: 'claimed', sessionId: 's1' })], size2, 1000)).toBe(1);
  });

  it('never holds back more than the claims made within the delay', () => {
    const sandboxes = [sbx('a'), claimed(0), sbx('d', { state: 'claimed', sessionId: 's2', claimedAt: 900 })];
    const size3 = { ...config, size: 3 };
    expect(sandboxesToWarm(sandboxes, size3, 1000)).toBe(1);
    expect(refillWaitMs(sandboxes, size3, 1000)).toBe(900 + REFILL_DELAY_MS - 1000);
  });
});

describe('sandboxesToTrim', () => {
  it('trims nothing at or below the size', () => {
    expect(sandboxesToTrim([sbx('a'), sbx('b', { readyAt: 5 })], config)).toEqual([]);
    expect(sandboxesToTrim([sbx('a'), sbx('b'), sbx('c', { state: 'warming' })], config)).toEqual([]);
  });

  it('trims ready sandboxes made with settings the pool no longer has', () => {
    const sandboxes = [sbx('old', { spec: OTHER }), sbx('cur')];
    expect(sandboxesToTrim(sandboxes, config)).toEqual(['old']);
  });

  it('trims the newest beyond the size, so the oldest keep serving', () => {
    const sandboxes = [
      sbx('d', { readyAt: 40 }),
      sbx('a', { readyAt: 10 }),
      sbx('c', { readyAt: 30 }),
      sbx('b', { readyAt: 20 }),
      sbx('e', { readyAt: 50 }),
    ];
    expect(sandboxesToTrim(sandboxes, config).sort()).toEqual(['d', 'e']);
    expect(sandboxesToTrim(sandboxes, { ...config, size: 0 }).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('counts warming sandboxes towards the size, trimming ready ones to make room', () => {
    const sandboxes = [
      sbx('a', { readyAt: 10 }),
      sbx('b', { readyAt: 20 }),
      sbx('w1', { state: 'warming' }),
      sbx('w2', { state: 'warming' }),
    ];
    expect(sandboxesToTrim(sandboxes, config)).toEqual(['b']);
  });

  it('never trims warming or claimed sandboxes', () => {
    const sandboxes = [
      sbx('w1', { state: 'warming' }),
      sbx('w2', { state: 'warming', spec: OTHER }),
      sbx('c1', { state: 'claimed', sessionId: 's1' }),
      sbx('c2', { state: 'claimed', sessionId: 's2', spec: OTHER }),
    ];
    expect(sandboxesToTrim(sandboxes, { ...config, size: 0 })).toEqual([]);
  });

  it('trims both stale and excess together', () => {
    const sandboxes = [sbx('stale', { spec: OTHER, readyAt: 0 }), sbx('a', { readyAt: 1 }), sbx('b', { readyAt: 2 })];
    expect(sandboxesToTrim(sandboxes, { ...config, size: 1 }).sort()).toEqual(['b', 'stale']);
  });
});

describe('chooseForClaim', () => {
  const none = new Set<string>();

  it('picks the longest-ready sandbox of the matching spec', () => {
    const sandboxes = [sbx('new', { readyAt: 30 }), sbx('old', { readyAt: 10 }), sbx('mid', { readyAt: 20 })];
    expect(chooseForClaim(sandboxes, SPEC, none)!.sandboxId).toBe('old');
  });

  it('skips other specs, warming and claimed sandboxes', () => {
    const sandboxes = [
      sbx('other', { spec: OTHER, readyAt: 0 }),
      sbx('warming', { state: 'warming', readyAt: undefined }),
      sbx('claimed', { state: 'claimed', sessionId: 's1', readyAt: 1 }),
      sbx('mine', { readyAt: 50 }),
    ];
    expect(chooseForClaim(sandboxes, SPEC, none)!.sandboxId).toBe('mine');
    expect(chooseForClaim(sandboxes, OTHER, none)!.sandboxId).toBe('other');
  });

  it('skips sandboxes on unusable hosts', () => {
    const sandboxes = [sbx('a', { hostId: 'bad', readyAt: 0 }), sbx('b', { hostId: 'good', readyAt: 10 })];
    expect(chooseForClaim(sandboxes, SPEC, new Set(['bad']))!.sandboxId).toBe('b');
    expect(chooseForClaim(sandboxes, SPEC, new Set(['bad', 'good']))).toBeUndefined();
  });

  it('returns undefined when nothing matches', () => {
    expect(chooseForClaim([], SPEC, none)).toBeUndefined();
    expect(chooseForClaim([sbx('x', { spec: OTHER })], SPEC, none)).toBeUndefined();
    expect(chooseForClaim([sbx('w', { state: 'warming' })], SPEC, none)).toBeUndefined();
  });
});

describe('refillBackoffMs', () => {
  it('does not wait without failures', () => {
    expect(refillBackoffMs(0)).toBe(0);
  });

  it('doubles from 1 s per consecutive failure', () => {
    expect([1, 2, 3, 4, 5, 6].map(refillBackoffMs)).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000]);
  });

  it('is capped at 60 s', () => {
    expect(refillBackoffMs(7)).toBe(60_000);
    expect(refillBackoffMs(50)).toBe(60_000);
    expect(refillBackoffMs(5000)).toBe(60_000);
  });
});

describe('WarmPoolConfig', () => {
  it('has defaults', () => {
    expect(WarmPoolConfig.parse({})).toMatchObject({ fleetId: 'default', template: 'busybox', size: 0, maxConcurrentWarming: 2 });
  });

  it.each([
    [-1, 'size must not be negative'],
    [1001, 'size must be at most 1000'],
  ])('rejects size %d with a readable message', (size, message) => {
    const result = WarmPoolConfig.safeParse({ size });
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.message)).toContain(message);
  });

  it('accepts the bounds 0 and 1000', () => {
    expect(WarmPoolConfig.parse({ size: 0 }).size).toBe(0);
    expect(WarmPoolConfig.parse({ size: 1000 }).size).toBe(1000);
  });
});
