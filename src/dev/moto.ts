import { execa, type ResultPromise } from 'execa';
import { motoServerPath, requireBuilt } from './paths.js';
import { freePort, waitFor } from './net.js';

export interface MotoServer {
  endpoint: string;
  process: ResultPromise;
  stop(): Promise<void>;
}

/** Starts moto's EC2-compatible server on a free loopback port and waits until it answers. */
export async function startMoto(): Promise<MotoServer> {
  const bin = requireBuilt(motoServerPath(), "moto's EC2 server");
  const port = await freePort();
  const child = execa(bin, ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore', reject: false });
  const endpoint = `http://127.0.0.1:${port}`;
  // Python starting on a busy 2-core machine can take most of a minute.
  await waitFor(`moto server at ${endpoint}`, 120_000, async () => {
    if (child.exitCode !== null) throw new Error(`moto server exited with code ${child.exitCode}`);
    const res = await fetch(`${endpoint}/moto-api/`).catch(() => undefined);
    return res !== undefined;
  });
  return {
    endpoint,
    process: child,
    async stop() {
      child.kill('SIGTERM');
      await child;
    },
  };
}
