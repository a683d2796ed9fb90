import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { requireBuilt, temporalCliPath } from '../../../src/dev/paths.js';
import { devServerTuningArgs } from '../../../src/dev/server-tuning.js';
import { sbxSearchAttributes } from '../../../src/protocol/search-attributes.js';

/**
 * A Temporal dev server from the CLI binary the bootstrap built (the time-skipping server cannot be
 * downloaded here). Tests use short timeouts in their inputs instead of skipping time.
 */
export function startDevServer(extraArgs: string[] = []): Promise<TestWorkflowEnvironment> {
  installQuietRuntime();
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: requireBuilt(temporalCliPath(), 'Temporal CLI') },
      searchAttributes: sbxSearchAttributes,
      extraArgs: ['--log-level', 'error', ...devServerTuningArgs({ persistent: false }), ...extraArgs],
    },
  }).catch((err: Error) => {
    throw new Error(`Temporal dev server failed to start: ${err.message}`);
  });
}

let runtimeInstalled = false;

/** Workers and the server's connection log only errors: jest output stays readable. */
export function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    // Core's own warnings (an activity completing after its workflow ended) are noise here too.
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
    });
  } catch {
    // Another test file in this jest worker installed it already.
  }
}
