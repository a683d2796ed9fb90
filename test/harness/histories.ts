import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { sessionWorkflowId } from '../../src/common/names.js';
import { temporalCliPath } from '../../src/dev/paths.js';
import { testStack } from './stack.js';

export const historiesDir = fileURLToPath(new URL('../replay/histories/', import.meta.url));

/**
 * With SBX_RECORD_HISTORIES=1, saves a session's history (as `temporal workflow show -o json`
 * prints it) for the replay tests: `SBX_RECORD_HISTORIES=1 npm test -- test/e2e`. Otherwise does nothing.
 */
export async function recordHistory(sessionId: string, name: string): Promise<void> {
  await recordWorkflowHistory(sessionWorkflowId(sessionId), name);
}

export async function recordWorkflowHistory(workflowId: string, name: string): Promise<void> {
  if (process.env.SBX_RECORD_HISTORIES !== '1') return;
  const stack = testStack();
  const { stdout } = await execa(temporalCliPath(), [
    'workflow',
    'show',
    '--workflow-id',
    workflowId,
    '--address',
    stack.temporalAddress,
    '--namespace',
    stack.namespace,
    '--output',
    'json',
  ]);
  mkdirSync(historiesDir, { recursive: true });
  writeFileSync(`${historiesDir}${name}.json`, stdout);
}
