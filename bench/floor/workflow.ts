/**
 * Temporal's own floor under an sbx operation: a workflow that answers an update at once, or after
 * one no-op activity on another task queue (the shape of an sbx exec: update → host activity → result).
 */
import { condition, defineSignal, defineUpdate, proxyActivities, setHandler } from '@temporalio/workflow';

export const bareUpdate = defineUpdate<number, [number]>('floorBare');
export const activityUpdate = defineUpdate<number, [number]>('floorActivity');
/** Its argument is a size: the activity answers that many bytes, as an exec's large output travels. */
export const bigUpdate = defineUpdate<string, [number]>('floorBig');
export const stopSignal = defineSignal('floorStop');

export interface FloorActivities {
  noop(n: number): Promise<number>;
  bytes(n: number): Promise<string>;
}

export async function FloorWorkflow(activityTaskQueue: string): Promise<void> {
  // The options an sbx host activity gets: a schedule-to-start bound, a start-to-close bound.
  const { noop, bytes } = proxyActivities<FloorActivities>({
    taskQueue: activityTaskQueue,
    scheduleToStartTimeout: '30 seconds',
    startToCloseTimeout: '1 minute',
  });
  let stopped = false;
  // A validator, as every sbx update has one.
  const validator = (n: number) => {
    if (!Number.isInteger(n)) throw new Error('not an integer');
  };
  setHandler(bareUpdate, (n) => n, { validator });
  setHandler(activityUpdate, (n) => noop(n), { validator });
  setHandler(bigUpdate, (n) => bytes(n), { validator });
  setHandler(stopSignal, () => void (stopped = true));
  await condition(() => stopped);
}
