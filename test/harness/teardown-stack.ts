import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
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
  for (const runscRoot of runscRoots(stack)) {
    const list = await execa('runsc', ['--root', runscRoot, 'list', '-q'], { reject: false });
    for (const id of list.exitCode === 0 ? list.stdout.split('\n').filter(Boolean) : []) {
      await execa('runsc', ['--root', runscRoot, 'delete', '-force', id], { reject: false });
    }
  }
  await destroyRecursive(stack.zfsRoot);
  await moto.stop();
  await temporal.teardown();
  rmSync(stack.scratch, { recursive: true, force: true });
}

/** The run's own runsc root and those of the host workers that test files started under scratch/hosts. */
function runscRoots(stack: TestStack): string[] {
  const hostsDir = join(stack.scratch, 'hosts');
  const hosts = existsSync(hostsDir) ? readdirSync(hostsDir).map((host) => join(hostsDir, host, 'runsc')) : [];
  return [stack.runscRoot, ...hosts].filter((dir) => existsSync(dir));
}
