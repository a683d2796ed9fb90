import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { sessionWorkflowId } from '../../src/common/names.js';

export const historiesDir = fileURLToPath(new URL('../replay/histories/', import.meta.url));

/**
 * With SBX_RECORD_HISTORIES=1, saves a session's history for the replay tests
 * (`SBX_RECORD_HISTORIES=1 npm test -- test/e2e`); otherwise does nothing.
 */
export async function recordHistory(client: Client, sessionId: string, name: string): Promise<void> {
  if (process.env.SBX_RECORD_HISTORIES !== '1') return;
  const history = await client.workflow.getHandle(sessionWorkflowId(sessionId)).fetchHistory();
  mkdirSync(historiesDir, { recursive: true });
  writeFileSync(`${historiesDir}${name}.json`, historyToJSON(history));
}
