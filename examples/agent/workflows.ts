/**
 * An agent loop as a Temporal workflow, in the agent platform's own namespace, that uses an sbx
 * session through the Nexus service sbx.sandbox.v1. The "model" is a script: each turn's tool calls
 * come from the workflow input, so a run is deterministic and needs no LLM. Swap `scriptedModel` for an
 * activity that asks a real model and the rest stays as it is.
 */
import { condition, createNexusServiceClient, defineQuery, defineSignal, setHandler, workflowInfo } from '@temporalio/workflow';
import { sbxErrorOf, sbxSandboxService, SBX_NEXUS_ENDPOINT } from '../../src/nexus/service.js';
import type { SessionInfo } from '../../src/workflows/messages.js';

/** A tool call the model asks for. */
export type ToolCall =
  | { tool: 'exec'; command: string }
  | { tool: 'writeFile'; path: string; content: string }
  | { tool: 'readFile'; path: string };

export interface AgentInput {
  sessionId: string;
  /** The scripted model's plan: the tool calls of each turn, in order. */
  turns: ToolCall[][];
  /** After the turns: fork from the last good turn and try two plans side by side. */
  fork?: { newSessionId: string; planA: ToolCall[]; planB: ToolCall[] };
  /** Nexus endpoint of sbx; `sbx` under `sbx dev`. */
  endpoint?: string;
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
  const sbx = createNexusServiceClient({ endpoint: input.endpoint ?? SBX_NEXUS_ENDPOINT, service: sbxSandboxService });
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

  // The session lives as long as this operation: it completes when the session is destroyed.
  const session = await sbx.startOperation('createSession', { sessionId: input.sessionId }, { scheduleToCloseTimeout: '1 day' });
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
      if (!outcome.ok && lastGood === 0) return { turn: 0, outcomes, ended: { rolledBackTo: 0, because: `${toolCallId}: ${outcome.output}` } };
      if (!outcome.ok) {
        const back = await sbx.executeOperation('rollback', { sessionId, turn: lastGood }, { scheduleToCloseTimeout: '10 minutes' });
        return { turn: back.turn, outcomes, ended: { rolledBackTo: back.turn, because: `${toolCallId}: ${outcome.output}` } };
      }
    }
    const done = await sbx.executeOperation('turnComplete', { sessionId }, { scheduleToCloseTimeout: '10 minutes' });
    return { turn: done.turn, outcomes, ended: { completed: done.turn } };
  }

  async function runTool(sessionId: string, toolCallId: string, call: ToolCall): Promise<ToolOutcome> {
    const options = { scheduleToCloseTimeout: '30 minutes' } as const;
    try {
      switch (call.tool) {
        case 'exec': {
          const r = await sbx.executeOperation('exec', { sessionId, toolCallId, command: call.command }, options);
          return { toolCallId, call, ok: r.exitCode === 0, output: r.exitCode === 0 ? r.stdout : `exit ${r.exitCode}: ${r.stderr.trim()}` };
        }
        case 'writeFile':
          await sbx.executeOperation('writeFiles', { sessionId, files: [{ path: call.path, content: call.content }] }, options);
          return { toolCallId, call, ok: true, output: `wrote ${call.path}` };
        case 'readFile': {
          const r = await sbx.executeOperation('readFile', { sessionId, path: call.path }, options);
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
    await sbx.executeOperation('fork', { sessionId: input.sessionId, newSessionId, turn: completedTurn }, { scheduleToCloseTimeout: '30 minutes' });
    // Both plans run at once, each in its own sandbox.
    const [a, b] = await Promise.all([
      runTurn(input.sessionId, 'planA', planA, completedTurn),
      runTurn(newSessionId, 'planB', planB, completedTurn),
    ]);
    fork = { planA: a, planB: b };
    turns.push(a);
    await pause();
    await sbx.executeOperation('destroy', { sessionId: newSessionId }, { scheduleToCloseTimeout: '10 minutes' });
  }

  await sbx.executeOperation('destroy', { sessionId: input.sessionId }, { scheduleToCloseTimeout: '10 minutes' });
  return { turns, fork, final: await session.result() };
}
