import { moduleFile } from './module-file.js';

/**
 * Workflow interceptor modules bundled with the workflows wherever they are bundled (the control
 * worker, the test bundle): the guard that keeps a history replayable when a query runs a workflow
 * ahead of it (src/workflows/query-advance-guard.ts).
 */
export function workflowInterceptorModules(): string[] {
  return [moduleFile(new URL('../workflows/query-advance-guard.js', import.meta.url))];
}
