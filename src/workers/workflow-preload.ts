/**
 * Evaluated once per control worker in the workflows' shared V8 context (the bundle's preloadModules),
 * so zod's library code exists once instead of once per cached workflow run. Only the library: sbx's
 * schemas stay per run, because the SDK freezes what a preloaded module holds and zod completes a
 * schema lazily, on its first use.
 */
import { z } from 'zod';

// zod fills in its global settings (default locale, memoizer, whether it may compile parsers) at the
// first schema made, parsed and failed: done here, before the SDK freezes them.
export const zodPreloaded = !z.object({ preloaded: z.string() }).safeParse({ preloaded: 0 }).success;
