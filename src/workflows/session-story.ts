import type { ActivityFunctionWithOptions, ActivityInterfaceFor } from '@temporalio/workflow';
import type { PlacementActivities } from '../activities/control/placement.js';
import type { HostActivities } from '../activities/host/activities.js';
import type { ExecStatus } from '../common/sandbox.js';
import { escapeControls } from '../common/shown.js';
import type { PauseMode, SessionState } from '../protocol/messages.js';

/**
 * What the Temporal Web UI shows of a session: its memo, its current details and a summary on each
 * host activity. Commands, paths and tool-call ids come from the agent: each is shown on one line,
 * cut short, with controls escaped and nothing a markdown or HTML renderer would act on.
 */

const COMMAND_CHARS = 60;
const ID_CHARS = 40;

/** `text` escaped (controls as \n, \u001b) and cut to `max` characters. */
function clipped(text: string, max: number): string {
  const line = escapeControls(text);
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

/** Agent text for a plain-text summary: angle brackets become look-alikes, so no renderer sees a tag. */
function plain(text: string, max: number): string {
  return clipped(text, max).replace(/</g, '‹').replace(/>/g, '›');
}

/** Agent text as a markdown code span, whose content no renderer interprets; its fence outlasts any backtick run in it. */
function code(text: string, max: number): string {
  const shown = clipped(text, max);
  const longestRun = Math.max(0, ...(shown.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longestRun + 1);
  return `${fence} ${shown} ${fence}`;
}

const commandText = (command: string | string[]) => (typeof command === 'string' ? command : command.join(' '));

/** How to summarize each activity of `A` from its input. */
type Summaries<A> = { [K in keyof A]: A[K] extends (...args: infer P) => unknown ? (input: P[0]) => string : never };

const hostSummaries: Summaries<HostActivities> = {
  createSandbox: ({ sandboxId, origin, start }) =>
    origin.kind === 'snapshot'
      ? `create sandbox ${sandboxId} from ${origin.sandboxId}@${origin.snapshot}`
      : `${start ? 'create and start' : 'create'} sandbox ${sandboxId}`,
  startSandbox: ({ sandboxId }) => `start sandbox ${sandboxId}`,
  stopSandbox: ({ sandboxId }) => `stop sandbox ${sandboxId}`,
  destroySandbox: ({ sandboxId }) => `destroy sandbox ${sandboxId}`,
  execCommand: ({ request }) => `exec: ${plain(commandText(request.command), COMMAND_CHARS)} (${plain(request.toolCallId, ID_CHARS)})`,
  writeFiles: ({ files }) => `write ${files.length === 1 ? plain(files[0].path, COMMAND_CHARS) : `${files.length} files`}`,
  readFile: ({ request }) => `read ${plain(request.path, COMMAND_CHARS)}`,
  readOutput: ({ request }) => `read ${request.stream ?? 'stdout'} of ${plain(request.ref, ID_CHARS)}`,
  listDir: ({ request }) => `list ${plain(request.path ?? '/workspace', COMMAND_CHARS)}`,
  statPath: ({ request }) => `stat ${plain(request.path, COMMAND_CHARS)}`,
  deletePath: ({ request }) => `delete ${plain(request.path, COMMAND_CHARS)}`,
  snapshotSandbox: ({ name }) => `snapshot ${name}`,
  rollbackSandbox: ({ name }) => `rollback to ${name}`,
  destroySnapshots: ({ names }) => `prune ${names.length === 1 ? names[0] : `${names.length} snapshots`}`,
  pauseSandbox: ({ mode }) => `pause (${mode})`,
  resumeSandbox: ({ mode }) => `resume (${mode})`,
  launchProcess: ({ request }) => `launch ${request.processId}: ${plain(request.command, COMMAND_CHARS)}`,
  processStatus: ({ processId }) => `status of process ${processId}`,
  killProcess: ({ processId }) => `kill process ${processId}`,
  sandboxUsedBytes: ({ sandboxId }) => `disk use of ${sandboxId}`,
  transferSandbox: ({ sandboxId, sessionId }) => `hand ${sandboxId} to session ${sessionId}`,
  hostHealth: () => 'host health probe',
};

const placementSummaries: Summaries<PlacementActivities> = {
  placeSession: ({ sessionId, hostId }) => (hostId ? `place session ${sessionId} on ${hostId}` : `place session ${sessionId}`),
  claimWarmSandbox: ({ sessionId, template }) => `claim a warm ${template} sandbox for ${sessionId}`,
  reserveSlot: ({ sessionId, hostId }) => `reserve a slot for ${sessionId} on ${hostId}`,
  placeWarmSandbox: ({ sandboxId }) => `place warm sandbox ${sandboxId}`,
};

/** `acts` whose every call carries its summary from `table`, so the UI's history rows say what each was for. */
function summarizing<A>(acts: ActivityInterfaceFor<A>, table: Summaries<A>): ActivityInterfaceFor<A> {
  const summaries = table as Record<string, (input: unknown) => string>;
  return new Proxy(acts as Record<string, ActivityFunctionWithOptions<(...args: unknown[]) => Promise<unknown>>>, {
    get(target, name) {
      const summary = typeof name === 'string' ? summaries[name] : undefined;
      if (!summary) return target[name as string];
      return (...args: unknown[]) => target[name as string].executeWithOptions({ summary: summary(args[0]) }, args);
    },
  }) as ActivityInterfaceFor<A>;
}

/** Host activities labelled for the UI, e.g. `exec: npm test (call-17)`, `snapshot turn-000004`. */
export const withHostSummaries = (acts: ActivityInterfaceFor<HostActivities>) => summarizing(acts, hostSummaries);
/** Placement activities labelled for the UI, e.g. `place session s1`. */
export const withPlacementSummaries = (acts: ActivityInterfaceFor<PlacementActivities>) => summarizing(acts, placementSummaries);

/** The last tool call as the UI shows it: an exec's id and command, or another call's update name. */
export interface LastToolCall {
  name: string;
  toolCallId?: string;
  command?: string | string[];
  ended?: boolean;
  /** An exec's outcome. */
  result?: { exitCode: number; status: ExecStatus };
  /** The failure's type, when the call failed. */
  failed?: string;
}

export interface StoryState {
  state: SessionState;
  failureReason?: string;
  pauseMode?: PauseMode;
  hostId?: string;
  template: string;
  turn: number;
  lastToolCall?: LastToolCall;
}

function outcome(call: LastToolCall): string {
  if (call.failed) return `failed (${call.failed})`;
  if (call.result) {
    const { exitCode, status } = call.result;
    return status === 'exited' ? `exit ${exitCode}` : `${status.replace('_', ' ')} (exit ${exitCode})`;
  }
  return call.ended ? 'done' : 'running';
}

/** Markdown the Web UI shows at the top of the session's page (its current details). */
export function currentDetails(story: StoryState): string {
  const why = story.failureReason ?? (story.state === 'paused' ? story.pauseMode : undefined);
  const lines = [
    [
      `state: **${story.state}**${why ? ` (${why})` : ''}`,
      `turn: **${story.turn}**`,
      `template: ${story.template}`,
      `host: ${story.hostId ?? 'none yet'}`,
    ].join(' · '),
  ];
  const call = story.lastToolCall;
  if (call) {
    const what = [
      call.toolCallId === undefined ? undefined : code(call.toolCallId, ID_CHARS),
      call.name,
      call.command === undefined ? undefined : code(commandText(call.command), COMMAND_CHARS),
    ]
      .filter((part) => part !== undefined)
      .join(' ');
    lines.push(`last tool call: ${what} → ${outcome(call)}`);
  }
  return lines.join('\n\n');
}
