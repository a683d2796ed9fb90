import { z } from 'zod';
import { usePlainStackTraces } from './plain-stack-traces.js';

/**
 * Evaluated once per workflow thread and shared by its workflows (see workflowPreloadModules), which
 * then build only their own schemas. zod sets its default locale and memoizer on first use, in a
 * global the SDK freezes after this runs: one schema built and used here sets them while it still can.
 */
z.object({ preload: z.string() }).safeParse({ preload: 1 });
usePlainStackTraces();

// Exported whole, so the bundle keeps every zod module in the preload: one only a workflow's own schemas
// reached would otherwise be evaluated again for each workflow.
export const zod = z;
