import { rmSync } from 'node:fs';
import { execa } from 'execa';
import { destroyRecursive } from '../../src/activities/host/zfs-cli.js';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { MotoServer } from '../../src/dev/moto.js';
import type { TestStack } from './stack.js';

/** Leaves no process, container or dataset behind. */
export default async function globalTeardown(): Promise<void> {
  const started = (globalThis as { __sbxStack?: { stack: TestStack; temporal: TestWorkflowEnvironment; moto: MotoServer } })
    .__sbxStack;
  if (!started) return;
  const { stack, temporal, moto } = started;
  const list = await execa('runsc', ['--root', stack.runscRoot, 'list', '-q'], { reject: false });
  for (const id of list.exitCode === 0 ? list.stdout.split('\n').filter(Boolean) : []) {
    await execa('runsc', ['--root', stack.runscRoot, 'delete', '-force', id], { reject: false });
  }
  await destroyRecursive(stack.zfsRoot);
  await moto.stop();
  await temporal.teardown();
  rmSync(stack.scratch, { recursive: true, force: true });
}
