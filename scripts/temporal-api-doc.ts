/**
 * Writes docs/temporal-api.md: the session workflow's wire contract for callers in any language,
 * with a JSON Schema per message generated from the same zod schemas the workflow validates with.
 * `npm run docs:api` rewrites it; a unit test fails when it is stale.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import {
  CreateSessionRequest,
  DeletePathRequest,
  ExecRequest,
  ForkRequest,
  LaunchProcessRequest,
  ListDirRequest,
  NamedSnapshotRequest,
  PauseRequest,
  ProcessRef,
  ReadFileRequest,
  ReadOutputRequest,
  SnapshotTarget,
  StatPathRequest,
  WriteFilesRequest,
} from '../src/protocol/messages.js';
import { sbxSearchAttributes } from '../src/protocol/search-attributes.js';
import { SbxErrorType } from '../src/common/errors.js';

interface Message {
  kind: 'update' | 'signal' | 'query';
  name: string;
  input?: z.ZodType;
  output: string;
  does: string;
}

const SessionInfo = `{ sessionId, state, failureReason?, hostId?, template, turn, snapshots: SnapshotRecord[], pauseMode?, forkedFrom?, sandboxId, warmClaim?, createdAt, toolCalls, runs, lastRejectedSignal?: { name, reason, at } }`;
const SnapshotRecord = `{ name, turn?, createdAt, usedBytes, referencedBytes }`;

const messages: Message[] = [
  {
    kind: 'update',
    name: 'create',
    input: CreateSessionRequest,
    output: `SessionInfo ${SessionInfo}`,
    does: 'Waits until the session is made (or failed) and returns its info. Send it with update-with-start so a retried create returns the same session.',
  },
  {
    kind: 'update',
    name: 'exec',
    input: ExecRequest,
    output:
      '{ exitCode, stdout, stderr, truncated, status: "exited"|"timed_out"|"killed"|"oom", durationMs, outputExpired?, fullOutput?: { ref, stdoutBytes, stderrBytes, complete } }',
    does: 'Runs a command in the sandbox. Use update id `exec-<toolCallId>`: a repeated toolCallId returns the recorded result and never runs twice; when the output of that result was dropped at continue-as-new (only the newest outputs are carried) it comes back empty with `outputExpired: true`. Each argument and env entry is at most 64 KiB and all together 256 KiB; stdin at most 1 MiB and the whole request 1.5 MiB as JSON (README, Limits).',
  },
  {
    kind: 'update',
    name: 'writeFiles',
    input: WriteFilesRequest,
    output: 'null',
    does: 'Writes files inside the sandbox, all or nothing.',
  },
  {
    kind: 'update',
    name: 'readFile',
    input: ReadFileRequest,
    output: '{ content, encoding, size, offset, nextOffset?, truncated }',
    does: 'Reads one page (at most 1 MiB) of a regular file.',
  },
  {
    kind: 'update',
    name: 'readOutput',
    input: ReadOutputRequest,
    output: '{ stream, data, encoding, offset, totalBytes, nextOffset? }',
    does: "Reads one page (at most 1 MiB) of an exec's full output, kept on the host when it went past what a result carries (`fullOutput.ref`); `OutputExpired` once it is no longer kept.",
  },
  {
    kind: 'update',
    name: 'listDir',
    input: ListDirRequest,
    output: '{ entries: { name, type: "file"|"dir"|"symlink"|"other", size }[], nextCursor? }',
    does: 'Lists one page of a directory, sorted by name.',
  },
  {
    kind: 'update',
    name: 'statPath',
    input: StatPathRequest,
    output: '{ type, size, mode, mtimeMs, target? }',
    does: 'Describes a path; a symlink is described, not followed.',
  },
  {
    kind: 'update',
    name: 'deletePath',
    input: DeletePathRequest,
    output: 'null',
    does: 'Deletes a file, a link or an empty directory (a tree with `recursive`).',
  },
  {
    kind: 'update',
    name: 'turnComplete',
    output: '{ snapshotId, turn, usedBytes }',
    does: 'Snapshots the filesystem as the next turn. No input.',
  },
  {
    kind: 'update',
    name: 'snapshot',
    input: NamedSnapshotRequest,
    output: `SnapshotRecord ${SnapshotRecord}`,
    does: "A named snapshot (names starting `turn-` are reserved); past the session's `maxNamedSnapshots` it is refused with InvalidState.",
  },
  {
    kind: 'update',
    name: 'rollback',
    input: SnapshotTarget,
    output: '{ snapshotId, turn }',
    does: 'Waits for tools in flight, then the sandbox sees exactly that snapshot; later snapshots are gone.',
  },
  {
    kind: 'update',
    name: 'fork',
    input: ForkRequest,
    output: '{ sessionId, fromSnapshot }',
    does: 'Starts session `newSessionId` from a snapshot of this one; this one is untouched.',
  },
  {
    kind: 'update',
    name: 'launchProcess',
    input: LaunchProcessRequest,
    output: '{ processId, status: "running"|"exited", pid, exitCode?, outputTail }',
    does: 'Starts a long-running program in the sandbox. Its command is at most 64 KiB less 64 bytes; with its env, 256 KiB together.',
  },
  {
    kind: 'update',
    name: 'processStatus',
    input: ProcessRef,
    output: '{ processId, status, pid, exitCode?, outputTail }',
    does: 'The status of a launched program.',
  },
  {
    kind: 'update',
    name: 'killProcess',
    input: ProcessRef,
    output: '{ processId, status, pid, exitCode?, outputTail }',
    does: 'Stops a launched program.',
  },
  {
    kind: 'update',
    name: 'destroy',
    output: `SessionInfo ${SessionInfo}`,
    does: 'Kills everything, deletes the sandbox and its data, and completes the workflow. No input.',
  },
  {
    kind: 'update',
    name: 'pauseNow',
    input: PauseRequest,
    output: `SessionInfo ${SessionInfo}`,
    does: 'The `pause` signal as an update: answers once the session is paused, or with why it could not be (a typed error). A session already paused stays as it is.',
  },
  {
    kind: 'update',
    name: 'resumeNow',
    output: `SessionInfo ${SessionInfo}`,
    does: 'The `resume` signal as an update: answers once the session is active again (at once when it already is), or with a typed error. No input.',
  },
  {
    kind: 'signal',
    name: 'pause',
    input: PauseRequest,
    output: '—',
    does: "freeze keeps memory (runsc pause); hibernate writes it to the session's storage and stops the sandbox. A signal has no reply: an input it cannot use is recorded as `lastRejectedSignal` in `info` (and logged), and nothing changes. Use `pauseNow` for an answer.",
  },
  { kind: 'signal', name: 'resume', output: '—', does: 'Brings a paused session back. No input.' },
  { kind: 'query', name: 'info', output: `SessionInfo ${SessionInfo}`, does: 'The session as it is now.' },
  { kind: 'query', name: 'listSnapshots', output: `SnapshotRecord[]`, does: 'Its snapshots, oldest first.' },
];

const schema = (type: z.ZodType) => JSON.stringify(z.toJSONSchema(type, { io: 'input', unrepresentable: 'any' }), null, 2);

export function temporalApiDoc(): string {
  const lines = [
    '# The session workflow as a public API',
    '',
    '<!-- Generated by `npm run docs:api` from the zod schemas in src/; edit scripts/temporal-api-doc.ts, not this file. -->',
    '',
    "Any Temporal client, in any language, can drive a session: sbx's TypeScript client is a thin layer",
    'over exactly this contract. Payloads are JSON (the default data converter). Every input is parsed',
    'inside the workflow with the schemas below; a malformed one is rejected with `InvalidArgument` and',
    'changes nothing.',
    '',
    '| | |',
    '|---|---|',
    '| workflow type | `SessionWorkflow` |',
    '| workflow id | `sbx-session-<sessionId>`: the workflow fails at once (InvalidArgument) under any other id |',
    "| task queue | the control workers' queue, `sbx-control` by default |",
    '| input | one argument, `{"request": <create request>}` (schema under `create`) |',
    "| id reuse policy | `REJECT_DUPLICATE` (a destroyed session's id is not reused) |",
    `| search attributes | ${sbxSearchAttributes.map((key) => `\`${key.name}\` (${key.type === 'INT' ? 'Int' : 'Keyword'})`).join(', ')} |`,
    "| memo | `template`, `resources` and `quotaBytes` (when asked): set at start by sbx's client and by forks, and by the workflow when a start carries none |",
    "| current details | state, turn, template, host and the last tool call (markdown; the Web UI's User Metadata tab) |",
    '',
    '## With the `temporal` CLI',
    '',
    '```sh',
    'temporal workflow start --type SessionWorkflow --task-queue sbx-control --workflow-id sbx-session-s1 \\',
    '  --input \'{"request":{"sessionId":"s1","template":"busybox"}}\'',
    'temporal workflow update execute --workflow-id sbx-session-s1 --name create --input \'{"sessionId":"s1","template":"busybox"}\'',
    'temporal workflow update execute --workflow-id sbx-session-s1 --name exec --update-id exec-call-1 \\',
    '  --input \'{"toolCallId":"call-1","command":"echo hi > /workspace/hi.txt"}\'',
    'temporal workflow update execute --workflow-id sbx-session-s1 --name turnComplete',
    'temporal workflow update execute --workflow-id sbx-session-s1 --name rollback --input \'{"turn":1}\'',
    'temporal workflow signal --workflow-id sbx-session-s1 --name pause --input \'{"mode":"hibernate"}\'',
    'temporal workflow query --workflow-id sbx-session-s1 --name info',
    'temporal workflow signal --workflow-id sbx-session-s1 --name resume',
    'temporal workflow update execute --workflow-id sbx-session-s1 --name pauseNow --input \'{"mode":"freeze"}\'',
    'temporal workflow update execute --workflow-id sbx-session-s1 --name resumeNow',
    'temporal workflow update execute --workflow-id sbx-session-s1 --name destroy',
    '```',
    '',
    'From Python, `examples/python/session_lifecycle.py` does the same with the official `temporalio` SDK',
    '(the bootstrap installs the pinned version in a virtualenv in its cache).',
    '',
    '## Errors',
    '',
    'A failed update carries an ApplicationFailure whose `type` is one of:',
    Object.values(SbxErrorType)
      .map((type) => `\`${type}\``)
      .join(', ') + '.',
    'Only `Busy` and `ContinuedAsNew` are worth retrying as they are (`ContinuedAsNew`: the session is continuing as new; send the same call again, an exec with the same toolCallId); the message says what to do for the others. Send updates to the workflow id alone, without a run id: a session continues as new as its history grows, and only its latest run answers. `examples/python/session_lifecycle.py` shows both (`call()`).',
    '',
    '## Messages',
    '',
    '| kind | name | input | output | what it does |',
    '|---|---|---|---|---|',
    ...messages.map(
      (m) =>
        `| ${m.kind} | \`${m.name}\` | ${m.input ? `[schema](#${m.name})` : 'none'} | \`${m.output.replace(/\|/g, '\\|')}\` | ${m.does} |`,
    ),
    '',
    '## Input schemas',
    '',
    ...messages
      .filter((m) => m.input)
      .flatMap((m) => [`### ${m.name}`, '', `${m.kind} \`${m.name}\`: ${m.does}`, '', '```json', schema(m.input!), '```', '']),
  ];
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = fileURLToPath(new URL('../docs/temporal-api.md', import.meta.url));
  writeFileSync(target, temporalApiDoc());
  process.stdout.write(`wrote ${target}\n`);
}
