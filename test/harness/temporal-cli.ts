import { dirname } from 'node:path';
import { execa, type Result } from 'execa';
import { temporalCliPath } from '../../src/dev/paths.js';
import { testStack } from './stack.js';

/** The built `temporal` CLI on PATH, pointed at the run's dev server, as a user's shell would have it. */
function cliEnv(): Record<string, string> {
  const stack = testStack();
  return {
    PATH: `${dirname(temporalCliPath())}:${process.env.PATH}`,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_NAMESPACE: stack.namespace,
  };
}

/** Runs `temporal <args> --output json`; never throws on a non-zero exit (the caller checks it). */
export function temporalCli(args: string[]): Promise<Result> {
  return execa(temporalCliPath(), [...args, '--output', 'json'], { reject: false, env: cliEnv(), timeout: 120_000 });
}

/** Runs one shell line as a user would type it (`temporal …`), with JSON output. */
export function temporalCliLine(line: string): Promise<Result> {
  return execa('bash', ['-c', `${line} --output json`], { reject: false, env: cliEnv(), timeout: 120_000 });
}

/** The JSON a successful command printed (a signal prints nothing); a failure throws with its stderr. */
export function cliOutput(result: Result): unknown {
  if (result.exitCode !== 0) throw new Error(`${result.command}\nexited ${result.exitCode}: ${result.stderr}\n${result.stdout}`);
  const out = String(result.stdout).trim();
  return out ? JSON.parse(out) : undefined;
}
