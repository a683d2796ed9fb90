import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { moduleFile } from './module-file.js';
import { workflowInterceptorModules } from './workflow-interceptors.js';

/** The workflows' entry. */
export function workflowsPath(): string {
  return moduleFile(new URL('../workflows/index.js', import.meta.url));
}

/**
 * Modules evaluated once per workflow thread and shared by its workflows (reuseV8Context), instead of
 * once per new workflow: zod's own modules (its classes, not our schemas). The SDK freezes what they export.
 */
export function workflowPreloadModules(): string[] {
  return [moduleFile(new URL('../workflows/shared-libraries.js', import.meta.url))];
}

/** Where the build writes the workflow bundle: dist/workflow-bundle.js, beside the compiled code. */
export function prebuiltBundlePath(): string {
  return fileURLToPath(new URL('../workflow-bundle.js', import.meta.url));
}

/** What a bundle is made from: the workflows, their interceptors and the modules preloaded for all of them. */
export function workflowBundleInputs(): { workflowsPath: string; workflowInterceptorModules: string[]; preloadModules: string[] } {
  return {
    workflowsPath: workflowsPath(),
    workflowInterceptorModules: workflowInterceptorModules(),
    preloadModules: workflowPreloadModules(),
  };
}

/** Every module a bundle is made from, for its staleness check. */
export function workflowBundleEntries(): string[] {
  const inputs = workflowBundleInputs();
  return [inputs.workflowsPath, ...inputs.workflowInterceptorModules, ...inputs.preloadModules];
}

/**
 * Why `bundle` does not hold the code of `entries`, or undefined when it does: it must exist and be no
 * older than any compiled module the entries import (relative imports, followed to the end).
 */
export function staleBundleReason(bundle: string, entries: string[]): string | undefined {
  if (!existsSync(bundle)) return `there is no prebuilt bundle at ${bundle}`;
  const builtAt = statSync(bundle).mtimeMs;
  const seen = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    if (!existsSync(file)) return `${file} is missing`;
    if (statSync(file).mtimeMs > builtAt) return `${file} is newer than ${bundle}`;
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*['"](\.\.?\/[^'"]+)['"]/g)) {
      queue.push(resolve(dirname(file), spec));
    }
  }
  return undefined;
}

/**
 * The prebuilt bundle when it is current, else undefined (the worker then bundles at start, which takes
 * webpack seconds to minutes on a loaded machine). Logs which one and why.
 */
export function currentWorkflowBundle(logger: Logger): string | undefined {
  const bundle = prebuiltBundlePath();
  const reason = staleBundleReason(bundle, workflowBundleEntries());
  if (reason) {
    logger.info({ reason }, 'bundling the workflows at start: the prebuilt bundle is not current (npm run build makes it)');
    return undefined;
  }
  logger.info({ bundle }, 'using the prebuilt workflow bundle');
  return bundle;
}
