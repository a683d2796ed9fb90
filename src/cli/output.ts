import { ApplicationFailure } from '@temporalio/common';
import { SbxError } from '../client/errors.js';

export interface OutputOptions {
  json?: boolean;
}

/** Prints `value` as JSON for scripts, or through `human` for people. */
export function print<T>(options: OutputOptions, value: T, human: (value: T) => string): void {
  process.stdout.write(options.json ? `${JSON.stringify(value, null, 2)}\n` : `${human(value)}\n`);
}

/** Progress for people on stderr, so stdout stays clean for --json. */
export function progress(message: string): void {
  process.stderr.write(`… ${message}\n`);
}

/** One clear sentence and a non-zero exit: 2 for bad input, 1 for everything else. */
export function fail(err: unknown, json = false): never {
  // Config parsed in this process fails as an ApplicationFailure (parseInput), not through the client.
  const type = err instanceof SbxError ? err.type : err instanceof ApplicationFailure && err.type ? err.type : 'Error';
  const message = err instanceof Error ? err.message : String(err);
  if (json) process.stdout.write(`${JSON.stringify({ error: { type, message } })}\n`);
  else process.stderr.write(`sbx: ${type}: ${message}\n`);
  process.exit(type === 'InvalidArgument' ? 2 : 1);
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
