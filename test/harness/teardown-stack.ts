import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_HELPER_DIR } from '../../src/activities/host/files-helper.js';
import { GvisorRuntime } from '../../src/activities/host/runsc.js';
import { destroyRecursive } from '../../src/activities/host/zfs-cli.js';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { MotoServer } from '../../src/dev/moto.js';
import type { TestStack } from './stack.js';

/** Leaves no process, container or dataset behind. */
export default async function globalTeardown(): Promise<void> {
  const started = (globalThis as { __sbxStack?: { stack: TestStack; temporal: TestWorkflowEnvironment; moto: MotoServer } }).__sbxStack;
  if (!started) return;
  const { stack, temporal, moto } = started;
  for (const runscRoot of runscRoots(stack.scratch)) {
    const runtime = new GvisorRuntime({ runscRoot, helperDir: DEFAULT_HELPER_DIR });
    for (const id of await runtime.list().catch(() => [])) await runtime.destroy(id).catch(() => undefined);
  }
  try {
    await destroyRecursive(stack.zfsRoot);
  } finally {
    await moto.stop();
    await temporal.teardown();
    rmSync(stack.scratch, { recursive: true, force: true });
  }
}

/**
 * Every runsc root a test made under scratch (host workers keep theirs at <dataRoot>/runsc); dataset
 * mounts and local-disk trees hold sandbox contents and are not searched.
 */
function runscRoots(dir: string, depth = 5): string[] {
  if (depth === 0 || !existsSync(dir)) return [];
  const entries = readdirSync(dir, { withFileTypes: true }).filter(
    (e) => e.isDirectory() && !e.isSymbolicLink() && e.name !== 'zfs' && e.name !== 'local',
  );
  return entries.flatMap((e) => (e.name === 'runsc' ? [join(dir, e.name)] : runscRoots(join(dir, e.name), depth - 1)));
}
