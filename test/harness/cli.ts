import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';

export const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/**
 * Starts a long-running `sbx` command (the compiled CLI, as operators run it) and resolves once its
 * log says `readyMessage`. Logs are JSON lines here (not a TTY).
 */
export interface SbxProcess {
  /** The running child; wrapped because an async function would otherwise wait for it to exit. */
  child: ResultPromise;
  /** Everything it printed so far (JSON log lines). */
  output(): string;
}

export async function spawnSbx(
  args: string[],
  readyMessage: string,
  timeoutMs = 60_000,
  env: Record<string, string> = {},
): Promise<SbxProcess> {
  const child = execa('node', [cli, ...args], { reject: false, all: true, buffer: false, env: { SBX_LOG_FORMAT: 'json', ...env } });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sbx ${args[0]} not ready after ${timeoutMs} ms:\n${output}`)), timeoutMs);
    child.all!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(readyMessage)) {
        clearTimeout(timer);
        resolve();
      }
    });
    void child.then((result) => {
      clearTimeout(timer);
      reject(new Error(`sbx ${args[0]} exited with ${result.exitCode} before it was ready:\n${output}`));
    });
  });
  return { child, output: () => output };
}
