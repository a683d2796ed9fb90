import type { Client } from '@temporalio/client';
import { Recorder } from './stats.js';

type LongLike = number | string | { toString(): string } | null | undefined;
const num = (v: LongLike): number => (typeof v === 'number' ? v : Number(v?.toString() ?? Number.NaN));

interface Event {
  eventId?: LongLike;
  eventTime?: { seconds?: LongLike; nanos?: number | null } | null;
  activityTaskScheduledEventAttributes?: {
    activityType?: { name?: string | null } | null;
    input?: { payloads?: Array<{ data?: Uint8Array | null }> | null } | null;
  } | null;
  activityTaskStartedEventAttributes?: { scheduledEventId?: LongLike } | null;
  activityTaskCompletedEventAttributes?: { scheduledEventId?: LongLike } | null;
  workflowTaskScheduledEventAttributes?: object | null;
  workflowTaskStartedEventAttributes?: { scheduledEventId?: LongLike } | null;
  workflowTaskCompletedEventAttributes?: { scheduledEventId?: LongLike; startedEventId?: LongLike } | null;
}

/** The activity's name, with the pause mode for pause/resume (freeze and hibernate differ by far). */
function activityName(scheduled: Event | undefined): string {
  const attrs = scheduled?.activityTaskScheduledEventAttributes;
  const name = attrs?.activityType?.name ?? '?';
  try {
    const data = attrs?.input?.payloads?.[0]?.data;
    const mode = data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { mode?: string }).mode : undefined;
    return mode ? `${name}(${mode})` : name;
  } catch {
    return name;
  }
}

const ms = (e: Event): number => num(e.eventTime?.seconds) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;

/**
 * Where an update's time goes, from the session workflows' histories: per host activity type, the
 * time from scheduling to a host worker picking it up (dispatch) and from pick-up to completion (the
 * activity itself); per workflow task, the same for the control worker.
 */
export async function historyBreakdown(client: Client, workflowIds: string[], into: Recorder): Promise<void> {
  for (const id of workflowIds) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    const events = (history.events ?? []) as Event[];
    const byId = new Map<number, Event>(events.map((e) => [num(e.eventId), e]));
    for (const e of events) {
      const started = e.activityTaskStartedEventAttributes;
      if (started) {
        const scheduled = byId.get(num(started.scheduledEventId));
        const name = activityName(scheduled);
        if (scheduled) into.add(`activity ${name}: schedule→start`, ms(e) - ms(scheduled));
      }
      const done = e.activityTaskCompletedEventAttributes;
      if (done) {
        const scheduled = byId.get(num(done.scheduledEventId));
        const name = activityName(scheduled);
        const start = events.find(
          (x) =>
            x.activityTaskStartedEventAttributes &&
            num(x.activityTaskStartedEventAttributes.scheduledEventId) === num(done.scheduledEventId),
        );
        if (start) into.add(`activity ${name}: start→complete`, ms(e) - ms(start));
      }
      const wftStarted = e.workflowTaskStartedEventAttributes;
      if (wftStarted) {
        const scheduled = byId.get(num(wftStarted.scheduledEventId));
        if (scheduled) into.add('workflow task: schedule→start', ms(e) - ms(scheduled));
      }
      const wftDone = e.workflowTaskCompletedEventAttributes;
      if (wftDone) {
        const start = byId.get(num(wftDone.startedEventId));
        if (start) into.add('workflow task: start→complete', ms(e) - ms(start));
      }
    }
  }
}
