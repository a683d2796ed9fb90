/**
 * An agent loop as a Temporal workflow, in the agent platform's own namespace, that uses an sbx
 * session through the Nexus service sbx.sandbox.v1. The "model" is a script: each turn's tool calls
 * come from the workflow input, so a run is deterministic and needs no LLM. Swap `scriptedModel` for an
 * activity that asks a real model and the rest stays as it is.
 *
 * Second variant (`via: 'activities'`): the same loop without Nexus, through the sandbox activities
 * (sbx's agent-activities) registered in the agent's own worker.
 */
import { condition, createNexusServiceClient, defineQuery, defineSignal, setHandler, workflowInfo } from '@temporalio/workflow';
import { sandboxTools } from '../../src/agent-activities/workflow.js';
import type { OperationInput, OperationOutput } from 'nexus-rpc';
import { sbxErrorOf, sbxSandboxService, SBX_NEXUS_ENDPOINT, type SbxSandboxService } from '../../src/nexus/service.js';
import type { SessionInfo } from '../../src/protocol/messages.js';

/** A tool call the model asks for. */
export type ToolCall =
  { tool: 'exec'; command: string } | { tool: 'writeFile'; path: string; content: string } | { tool: 'readFile'; path: string };

export interface AgentInput {
  sessionId: string;
  /** The scripted model's plan: the tool calls of each turn, in order. */
  turns: ToolCall[][];
  /** After the turns: fork from the last good turn and try two plans side by side. */
  fork?: { newSessionId: string; planA: ToolCall[]; planB: ToolCall[] };
  /** Nexus endpoint of sbx; `sbx` under `sbx dev`. */
  endpoint?: string;
  /** How to reach sbx: its Nexus service (default), or sandbox activities in this worker. */
  via?: 'nexus' | 'activities';
  /** Waits for the `next` signal after each turn (a person, or a test, looks at the sandbox first). */
  stepThrough?: boolean;
}

export interface ToolOutcome {
  toolCallId: string;
  call: ToolCall;
  ok: boolean;
  output: string;
}

export interface TurnRecord {
  turn: number;
  outcomes: ToolOutcome[];
  /** The turn's snapshot, or the rollback that answered a failed tool call. */
  ended: { completed: number } | { rolledBackTo: number; because: string };
}

export interface AgentReport {
  turns: TurnRecord[];
  fork?: { planA: TurnRecord; planB: TurnRecord };
  /** The session's final info: the result of the createSession operation this workflow held. */
  final: SessionInfo;
}

export const nextSignal = defineSignal('next');
export const progressQuery = defineQuery<{ turnsDone: number; turns: TurnRecord[]; waiting: boolean }>('progress');

/** The scripted model: the plan's tool calls for turn `index`. */
function scriptedModel(input: AgentInput, index: number): ToolCall[] {
  return input.turns[index] ?? [];
}

export async function agentWorkflow(input: AgentInput): Promise<AgentReport> {
  const sbx = input.via === 'activities' ? activityTools() : nexusTools(input.endpoint ?? SBX_NEXUS_ENDPOINT);
  const turns: TurnRecord[] = [];
  let released = 0;
  let waiting = false;
  setHandler(nextSignal, () => void released++);
  setHandler(progressQuery, () => ({ turnsDone: turns.length, turns, waiting }));
  const pause = async () => {
    if (!input.stepThrough) return;
    waiting = true;
    const seen = turns.length;
    await condition(() => released >= seen);
    waiting = false;
  };

  const session = await sbx.create(input.sessionId);
  let completedTurn = 0;

  /** One turn on `sessionId`: each tool call in order; the first failure is answered by a rollback. */
  async function runTurn(sessionId: string, label: string, calls: ToolCall[], lastGood: number): Promise<TurnRecord> {
    const outcomes: ToolOutcome[] = [];
    for (const [i, call] of calls.entries()) {
      // Deterministic ids: a replay or a retry sends the same id, and sbx answers it from its record.
      const toolCallId = `${workflowInfo().workflowId}-${label}-c${i + 1}`;
      const outcome = await runTool(sessionId, toolCallId, call);
      outcomes.push(outcome);
      // Before the first completed turn there is nothing to go back to: the turn just ends.
      if (!outcome.ok && lastGood === 0)
        return { turn: 0, outcomes, ended: { rolledBackTo: 0, because: `${toolCallId}: ${outcome.output}` } };
      if (!outcome.ok) {
        const back = await sbx.call('rollback', { sessionId, turn: lastGood });
        return { turn: back.turn, outcomes, ended: { rolledBackTo: back.turn, because: `${toolCallId}: ${outcome.output}` } };
      }
    }
    const done = await sbx.call('turnComplete', { sessionId });
    return { turn: done.turn, outcomes, ended: { completed: done.turn } };
  }

  async function runTool(sessionId: string, toolCallId: string, call: ToolCall): Promise<ToolOutcome> {
    try {
      switch (call.tool) {
        case 'exec': {
          const r = await sbx.call('exec', { sessionId, toolCallId, command: call.command });
          return { toolCallId, call, ok: r.exitCode === 0, output: r.exitCode === 0 ? r.stdout : `exit ${r.exitCode}: ${r.stderr.trim()}` };
        }
        case 'writeFile':
          await sbx.call('writeFiles', { sessionId, files: [{ path: call.path, content: call.content }] });
          return { toolCallId, call, ok: true, output: `wrote ${call.path}` };
        case 'readFile': {
          const r = await sbx.call('readFile', { sessionId, path: call.path });
          return { toolCallId, call, ok: true, output: r.content };
        }
      }
    } catch (err) {
      // An sbx error is the tool's answer to the model (a missing file, a bad path); anything else is not.
      const sbxError = sbxErrorOf(err);
      if (!sbxError) throw err;
      return { toolCallId, call, ok: false, output: `${sbxError.type}: ${sbxError.message}` };
    }
  }

  for (let index = 0; index < input.turns.length; index++) {
    const record = await runTurn(input.sessionId, `t${index + 1}`, scriptedModel(input, index), completedTurn);
    if ('completed' in record.ended) completedTurn = record.ended.completed;
    turns.push(record);
    await pause();
  }

  let fork: AgentReport['fork'];
  if (input.fork) {
    const { newSessionId, planA, planB } = input.fork;
    await sbx.call('fork', { sessionId: input.sessionId, newSessionId, turn: completedTurn });
    // Both plans run at once, each in its own sandbox.
    const [a, b] = await Promise.all([
      runTurn(input.sessionId, 'planA', planA, completedTurn),
      runTurn(newSessionId, 'planB', planB, completedTurn),
    ]);
    fork = { planA: a, planB: b };
    turns.push(a);
    await pause();
    await sbx.call('destroy', { sessionId: newSessionId });
  }

  const destroyed = await sbx.call('destroy', { sessionId: input.sessionId });
  return { turns, fork, final: await session.final(destroyed) };
}

type Ops = SbxSandboxService['operations'];
type ToolOp = Exclude<keyof Ops, 'createSession'>;

/** The few things the loop needs of sbx, the same through Nexus or through activities. */
interface Sandbox {
  create(sessionId: string): Promise<{ final(destroyed: SessionInfo): Promise<SessionInfo> }>;
  call<K extends ToolOp>(op: K, input: OperationInput<Ops[K]>): Promise<OperationOutput<Ops[K]>>;
}

function nexusTools(endpoint: string): Sandbox {
  const sbx = createNexusServiceClient({ endpoint, service: sbxSandboxService });
  return {
    async create(sessionId) {
      // The session lives as long as this operation: it completes when the session is destroyed.
      const held = await sbx.startOperation('createSession', { sessionId }, { scheduleToCloseTimeout: '1 day' });
      return { final: () => held.result() };
    },
    call: (op, input) => sbx.executeOperation(op, input as never, { scheduleToCloseTimeout: '30 minutes' }) as never,
  };
}

function activityTools(): Sandbox {
  const tools = sandboxTools();
  const byOp: { [K in ToolOp]: (input: OperationInput<Ops[K]>) => Promise<OperationOutput<Ops[K]>> } = {
    exec: tools.exec,
    writeFiles: tools.writeFiles,
    readFile: tools.readFile,
    listDir: tools.listDir,
    turnComplete: tools.turnComplete,
    rollback: tools.rollback,
    fork: tools.fork,
    destroy: tools.destroy,
    info: tools.info,
    pause: () => Promise.reject(new Error('not used by this example')),
    resume: () => Promise.reject(new Error('not used by this example')),
    readOutput: () => Promise.reject(new Error('not used by this example')),
  };
  return {
    async create(sessionId) {
      await tools.create({ sessionId });
      return { final: async (destroyed) => destroyed };
    },
    call: (op, input) => (byOp[op] as unknown as (i: typeof input) => Promise<never>)(input),
  };
}
