import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { SandboxClient } from '../client/sandbox-client.js';
import type { SessionInfo, SnapshotRecord } from '../protocol/messages.js';
import { runWithClient, type GlobalOptions } from './connect.js';
import { bytes, print, progress } from './output.js';
import { int } from './parsers.js';

function describe(info: SessionInfo): string {
  const lines = [
    `session   ${info.sessionId}`,
    `state     ${info.state}${info.failureReason ? ` (${info.failureReason})` : ''}${info.pauseMode ? ` (${info.pauseMode})` : ''}`,
    `host      ${info.hostId ?? '-'}`,
    `template  ${info.template}`,
    `turn      ${info.turn}`,
    `snapshots ${info.snapshots.map((s) => s.name).join(', ') || '-'}`,
    `tools     ${info.toolCalls} call(s)`,
  ];
  if (info.forkedFrom) lines.push(`forked    from ${info.forkedFrom.sessionId}@${info.forkedFrom.snapshot}`);
  if (info.warmClaim) lines.push(`sandbox   ${info.sandboxId} (warm, ready since ${info.warmClaim.readyAt})`);
  const rejected = info.lastRejectedSignal;
  if (rejected) lines.push(`rejected  a ${rejected.name} signal at ${rejected.at}: ${rejected.reason}`);
  return lines.join('\n');
}

function snapshotTable(snapshots: SnapshotRecord[]): string {
  if (snapshots.length === 0) return 'no snapshots';
  return snapshots.map((s) => `${s.name.padEnd(16)} ${s.createdAt}  ${bytes(s.referencedBytes)}`).join('\n');
}

/** `sbx session …`: every session operation over the client library. */
export function sessionCommands(globals: () => GlobalOptions): Command {
  const cmd = new Command('session').description('create and drive sandbox sessions');
  const withClient = <T>(fn: (client: SandboxClient) => Promise<T>): Promise<T> => runWithClient(globals(), fn);

  cmd
    .command('create <sessionId>')
    .description('create a session (a retried create returns the same session)')
    .option('-t, --template <name>', 'template to clone', 'busybox')
    .option('--host <hostId>', "host to place the session on (default: the control worker's default host)")
    .option('--cpus <n>', 'CPUs', Number, 1)
    .option('--memory-mb <n>', 'memory limit in MiB', int, 512)
    .option('--max-pids <n>', 'process limit', int, 256)
    .option('--quota-mb <n>', 'disk quota in MiB', int)
    .option('--idle-timeout-s <n>', 'auto-pause after this many idle seconds (0: never)', int, 1800)
    .option('--max-lifetime-s <n>', 'destroy after this many seconds (0: never)', int, 86400)
    .option('--auto-resume', 'let a tool call on a paused session resume it', false)
    .action(async (sessionId: string, o) =>
      withClient(async (client) => {
        progress(`creating session ${sessionId} from template ${o.template}`);
        const { info } = await client.createSession({
          sessionId,
          template: o.template,
          hostId: o.host,
          resources: { cpus: o.cpus, memoryMb: o.memoryMb, maxPids: o.maxPids },
          quotaBytes: o.quotaMb === undefined ? undefined : o.quotaMb * 1024 * 1024,
          idleTimeoutMs: o.idleTimeoutS * 1000,
          maxLifetimeMs: o.maxLifetimeS * 1000,
          autoResume: o.autoResume,
        });
        print(globals(), info, describe);
      }),
    );

  cmd
    .command('exec <sessionId> <command...>')
    .description('run a command in the sandbox (put it after --)')
    .option('--id <toolCallId>', 'tool call id; repeating one returns its recorded result')
    .option('--cwd <dir>', 'working directory inside the sandbox', '/workspace')
    .option('--timeout-ms <n>', 'kill the command after this long', int, 300_000)
    .option('-e, --env <NAME=value...>', 'environment variables')
    .action(async (sessionId: string, command: string[], o) =>
      withClient(async (client) => {
        const env = Object.fromEntries((o.env ?? []).map((pair: string) => [pair.split('=')[0], pair.slice(pair.indexOf('=') + 1)]));
        const result = await client.session(sessionId).exec({
          toolCallId: o.id ?? `cli-${Date.now()}-${process.pid}`,
          command: command.length === 1 ? command[0]! : command,
          cwd: o.cwd,
          timeoutMs: o.timeoutMs,
          env,
        });
        if (globals().json) return print(globals(), result, () => '');
        process.stdout.write(result.stdout);
        process.stderr.write(result.stderr);
        if (result.truncated) process.stderr.write('sbx: output truncated\n');
        if (result.status !== 'exited') process.stderr.write(`sbx: command ${result.status} after ${result.durationMs} ms\n`);
        process.exitCode = result.exitCode === 0 ? 0 : Math.min(result.exitCode, 125) || 1;
      }),
    );

  cmd
    .command('write <sessionId> <path> <file>')
    .description('copy a local file into the sandbox')
    .action(async (sessionId: string, path: string, file: string) =>
      withClient(async (client) => {
        const content = (await readFile(file)).toString('base64');
        await client.session(sessionId).writeFiles([{ path, content, encoding: 'base64' }]);
        print(globals(), { path }, () => `wrote ${path}`);
      }),
    );

  cmd
    .command('cat <sessionId> <path>')
    .description('print a file from the sandbox')
    .action(async (sessionId: string, path: string) =>
      withClient(async (client) => {
        const file = await client.session(sessionId).readFile(path);
        print(globals(), file, (f) => f.content + (f.truncated ? '\nsbx: file truncated' : ''));
      }),
    );

  cmd
    .command('turn <sessionId>')
    .description('mark an agent turn complete: snapshot the sandbox')
    .action(async (sessionId: string) =>
      withClient(async (client) => {
        const turn = await client.session(sessionId).turnComplete();
        print(globals(), turn, (t) => `turn ${t.turn} snapshot ${t.snapshotId} (${bytes(t.usedBytes)})`);
      }),
    );

  cmd
    .command('snapshot <sessionId> <name>')
    .description('take a named snapshot')
    .action(async (sessionId: string, name: string) =>
      withClient(async (client) => {
        const snapshot = await client.session(sessionId).snapshot(name);
        print(globals(), snapshot, (s) => `snapshot ${s.name}`);
      }),
    );

  cmd
    .command('snapshots <sessionId>')
    .description("list a session's snapshots, oldest first")
    .action(async (sessionId: string) =>
      withClient(async (client) => print(globals(), await client.session(sessionId).listSnapshots(), snapshotTable)),
    );

  cmd
    .command('rollback <sessionId>')
    .description('roll the sandbox back to a turn or a named snapshot')
    .option('--turn <n>', 'turn number', int)
    .option('--snapshot <name>', 'snapshot name')
    .action(async (sessionId: string, o) =>
      withClient(async (client) => {
        progress(`rolling ${sessionId} back to ${o.turn !== undefined ? `turn ${o.turn}` : o.snapshot}`);
        const result = await client.session(sessionId).rollback({ turn: o.turn, snapshot: o.snapshot });
        print(globals(), result, (r) => `rolled back to ${r.snapshotId}; turn is now ${r.turn}`);
      }),
    );

  cmd
    .command('fork <sessionId> <newSessionId>')
    .description('create a new session from a turn or snapshot of this one')
    .option('--turn <n>', 'turn number', int)
    .option('--snapshot <name>', 'snapshot name')
    .action(async (sessionId: string, newSessionId: string, o) =>
      withClient(async (client) => {
        progress(`forking ${sessionId} into ${newSessionId}`);
        const fork = await client.session(sessionId).fork({ newSessionId, turn: o.turn, snapshot: o.snapshot });
        print(globals(), await fork.info(), describe);
      }),
    );

  cmd
    .command('pause <sessionId>')
    .description('pause a session (freeze keeps memory; --hibernate checkpoints it to disk)')
    .option('--hibernate', 'checkpoint memory to disk and stop the sandbox', false)
    .action(async (sessionId: string, o) =>
      withClient(async (client) => {
        progress(`pausing ${sessionId}`);
        const session = client.session(sessionId);
        await session.pause(o.hibernate ? 'hibernate' : 'freeze');
        print(globals(), await session.info(), describe);
      }),
    );

  cmd
    .command('resume <sessionId>')
    .description('resume a paused session')
    .action(async (sessionId: string) =>
      withClient(async (client) => {
        progress(`resuming ${sessionId}`);
        const session = client.session(sessionId);
        await session.resume();
        print(globals(), await session.info(), describe);
      }),
    );

  cmd
    .command('destroy <sessionId>')
    .description('destroy a session: its processes, container and filesystem')
    .action(async (sessionId: string) =>
      withClient(async (client) => {
        progress(`destroying ${sessionId}`);
        print(globals(), await client.session(sessionId).destroy(), (i) => `session ${i.sessionId} ${i.state}`);
      }),
    );

  cmd
    .command('info <sessionId>')
    .description('show a session')
    .action(async (sessionId: string) => withClient(async (client) => print(globals(), await client.session(sessionId).info(), describe)));

  cmd
    .command('ls')
    .description('list sessions (Temporal visibility)')
    .option('--state <state>', 'only sessions in this state')
    .option('--host <hostId>', 'only sessions on this host')
    .option('--template <name>', 'only sessions of this template')
    .option('--limit <n>', 'at most this many', int, 100)
    .action(async (o) =>
      withClient(async (client) => {
        const sessions = await client.listSessions({ state: o.state, host: o.host, template: o.template, limit: o.limit });
        print(globals(), sessions, (list) =>
          list.length === 0
            ? 'no sessions'
            : list
                .map(
                  (s) =>
                    `${s.sessionId.padEnd(24)} ${(s.state ?? '-').padEnd(10)} ${(s.host ?? '-').padEnd(12)} ${s.template ?? '-'}  turn ${s.turn ?? 0}`,
                )
                .join('\n'),
        );
      }),
    );

  return cmd;
}
