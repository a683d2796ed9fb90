import { describe, expect, it, jest } from '@jest/globals';
import { z } from 'zod';
import { lazySchema } from '../../src/common/lazy-schema.js';

describe('lazySchema', () => {
  it('builds its schema only when first used, and once', () => {
    const build = jest.fn(() => z.object({ name: z.string() }));
    const Named = lazySchema(build);
    expect(build).not.toHaveBeenCalled();
    expect(Named.parse({ name: 'a' })).toEqual({ name: 'a' });
    expect(Named.safeParse({ name: 1 }).success).toBe(false);
    expect(build).toHaveBeenCalledTimes(1);
  });

  it('works as a part of other schemas, lazy or not', () => {
    const Name = lazySchema(() => z.string().min(1, 'name must not be empty'));
    const Request = lazySchema(() => z.object({ name: Name, tags: z.array(Name).default([]) }));
    const Wider = Request.extend({ size: z.number().int() });
    const Either = z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('a'), request: Request }),
      z.object({ kind: z.literal('b'), name: Request.shape.name.optional() }),
    ]);
    expect(Wider.parse({ name: 'x', size: 2 })).toEqual({ name: 'x', tags: [], size: 2 });
    expect(Either.parse({ kind: 'b' })).toEqual({ kind: 'b' });
    const failed = Request.safeParse({ name: '' });
    expect(failed.success ? [] : failed.error.issues.map((issue) => issue.message)).toEqual(['name must not be empty']);
    expect(Request instanceof z.ZodObject).toBe(true);
  });
});
