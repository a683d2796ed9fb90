import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Workflow interceptor modules bundled with the workflows wherever they are bundled (the control
 * worker, the test bundle): the guard that keeps a history replayable when a query runs a workflow
 * ahead of it (src/workflows/query-advance-guard.ts). Compiled JavaScript under dist/, TypeScript from source.
 */
export function workflowInterceptorModules(): string[] {
  const js = fileURLToPath(new URL('../workflows/query-advance-guard.js', import.meta.url));
  return [existsSync(js) ? js : js.replace(/\.js$/, '.ts')];
}
