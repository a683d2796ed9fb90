import { execa } from 'execa';
import { cli } from '../harness/cli.js';

/** The compiled `sbx control` refuses bad flags with a typed sentence and exit 2, before connecting anywhere. */
describe('sbx control flags', () => {
  const control = (...args: string[]) =>
    execa('node', [cli, 'control', '--temporal-address', '127.0.0.1:1', ...args], { reject: false, timeout: 30_000 });

  it('refuses a malformed --warm-pool, naming the expected form', async () => {
    const result = await control('--fleet', 'f1', '--warm-pool', 'busybox=lots');
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('sbx: InvalidArgument: invalid control config (fleet.warmPools.0): a warm pool is <template>=<size>');
  });

  it('refuses --warm-pool without a fleet', async () => {
    const result = await control('--warm-pool', 'busybox=2');
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('add --fleet <fleetId> to use --warm-pool');
  });

  it('refuses a pool larger than a pool may be', async () => {
    const result = await control('--fleet', 'f1', '--warm-pool', 'busybox=5000');
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('size must be at most 1000');
  });

  it('refuses a workflow cache of 1, and says so in --help', async () => {
    const result = await control('--max-cached-workflows', '1');
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('invalid control config (maxCachedWorkflows): max cached workflows is 0 (no cache) or at least 2');
    const help = await execa('node', [cli, 'control', '--help'], { reject: false });
    expect(help.stdout).toMatch(/--max-cached-workflows <n>\s+workflows kept in memory/);
  });
});
