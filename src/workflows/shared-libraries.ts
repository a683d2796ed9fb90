import { z } from 'zod';
import { usePlainStackTraces } from './plain-stack-traces.js';

/**
 * Evaluated once per workflow thread and shared by its workflows (see workflowPreloadModules), which
 * then build only their own schemas. zod's settings live in a global the SDK freezes after this runs:
 * - Without JIT: each workflow builds its own schemas and parses each a few times, so compiling a
 *   parser per object schema (`new Function`) costs a new workflow more than it ever saves (a first
 *   parse took 170-215 µs with it, 77-89 µs without).
 * - zod sets its default locale and memoizer on first use: one schema built and used here sets them.
 */
z.config({ jitless: true });
z.object({ preload: z.string() }).safeParse({ preload: 1 });
usePlainStackTraces();

// Exported whole, so the bundle keeps every zod module in the preload: one only a workflow's own schemas
// reached would otherwise be evaluated again for each workflow.
export const zod = z;
