import { InvalidArgumentError } from 'commander';

/** Option values the commands share, parsed the same way everywhere. */

export function int(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}
