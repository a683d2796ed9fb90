/**
 * A floor worker process: `--role workflows` runs FloorWorkflow (the control worker's stand-in, its
 * default Worker options), `--role activities` runs the no-op activities (the host worker's stand-in,
 * the tools worker's slot count). Prints `floor worker ready` once polling.
 */
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { NativeConnection, Worker } from '@temporalio/worker';

const cmd = new Command('floor-worker')
  .requiredOption('--role <role>', 'workflows | activities')
  .requiredOption('--temporal-address <host:port>')
  .requiredOption('--task-queue <name>');
cmd.parse(process.argv);
const o = cmd.opts<{ role: string; temporalAddress: string; taskQueue: string }>();
const connection = await NativeConnection.connect({ address: o.temporalAddress });
const worker =
  o.role === 'workflows'
    ? await Worker.create({ connection, taskQueue: o.taskQueue, workflowsPath: fileURLToPath(new URL('./workflow.ts', import.meta.url)) })
    : await Worker.create({
        connection,
        taskQueue: o.taskQueue,
        activities: { noop: async (n: number) => n, bytes: async (n: number) => 'a'.repeat(n) },
        maxConcurrentActivityTaskExecutions: 64,
      });
process.on('SIGTERM', () => worker.shutdown());
const running = worker.run();
process.stdout.write('floor worker ready\n');
await running;
await connection.close();
