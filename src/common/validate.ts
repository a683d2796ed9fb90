import type { z } from 'zod';
import { SbxErrorType, sbxFailure } from './errors.js';

/** Parses `value` with `schema`; a mismatch becomes an InvalidArgument failure naming the field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.length ? ` (${issue.path.join('.')})` : '';
  throw sbxFailure(SbxErrorType.InvalidArgument, `invalid ${what}${field}: ${issue.message}`);
}
