import { Client, Connection } from '@temporalio/client';
import * as activities from '../fixtures/smoke-activities.js';
import { connectClient, createTestWorker } from '../harness/temporal.js';
import { uniqueNames } from '../harness/stack.js';

describe('Temporal dev server (real, built from the Go module)', () => {
  const names = uniqueNames(import.meta.url);
  let client: Client;
  let connection: Connection;

  beforeAll(async () => {
    ({ client, connection } = await connectClient());
  });
  afterAll(async () => {
    await connection?.close();
  });

  it('runs a workflow that calls an activity on a worker and returns its result', async () => {
    const { worker, connection: workerConnection } = await createTestWorker({ taskQueue: names.taskQueue, activities });
    try {
      const result = await worker.runUntil(
        client.workflow.execute('smokeWorkflow', {
          taskQueue: names.taskQueue,
          workflowId: `smoke-${names.id}`,
          args: ['sbx'],
        }),
      );
      expect(result).toBe(`hello sbx from ${names.taskQueue}`);
      const history = await client.workflow.getHandle(`smoke-${names.id}`).fetchHistory();
      const scheduled = history.events!.filter((event) => event.activityTaskScheduledEventAttributes);
      expect(scheduled.map((event) => event.activityTaskScheduledEventAttributes!.activityType!.name)).toEqual(['greet']);
    } finally {
      await workerConnection.close();
    }
  });

  it('has the sbx search attributes registered', async () => {
    const response = await client.connection.operatorService.listSearchAttributes({ namespace: 'default' });
    expect(Object.keys(response.customAttributes)).toEqual(
      expect.arrayContaining(['SbxSessionState', 'SbxHost', 'SbxTemplate', 'SbxTurn']),
    );
  });
});
