import { rmSync } from 'node:fs';
import type { TestWorkflowEnvironment } from '@temporalio/testing';

export default async function globalTeardown(): Promise<void> {
  const started = (globalThis as { __sbxWorkflowTests?: { temporal: TestWorkflowEnvironment; scratch: string } }).__sbxWorkflowTests;
  if (!started) return;
  try {
    await started.temporal.teardown();
  } finally {
    rmSync(started.scratch, { recursive: true, force: true });
  }
}
