import { ApplicationFailure } from '@temporalio/common';
import type { Command } from 'commander';
import { SbxError } from '../client/errors.js';
import { escapeControls } from '../common/shown.js';

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
  // Names and paths in a message come from callers and sandboxes: never let a terminal act on them.
  const message = escapeControls(err instanceof Error ? err.message : String(err));
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

/**
 * Makes every parse error of `program` and its subcommands (unknown command or option, a bad or
 * missing argument) exit 2 like any other usage error, its message printed with controls escaped.
 * Commander passes neither setting to commands added with addCommand, so each command gets both.
 */
export function usageErrorsExit2(program: Command): void {
  for (const cmd of [program, ...allSubcommands(program)]) {
    cmd.configureOutput({ outputError: (text, write) => write(`${escapeControls(text.replace(/\n$/, ''))}\n`) });
    cmd.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
  }
}

function allSubcommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((sub) => [sub, ...allSubcommands(sub)]);
}
