import { afterAll, afterEach, beforeAll } from '@jest/globals';
import { useEnv, env } from './harness/current.js';
import { WorkflowTestEnv } from './harness/env.js';
// Each suite registers its tests on import; they share this file's worker and stub activities.
import './suites/session-timers.js';
import './suites/session-lock.js';
import './suites/session-create.js';
import './suites/session-destroy.js';
import './suites/session-host-lost.js';
import './suites/session-fork.js';
import './suites/fleet-timers.js';
import './suites/warm-pool-timers.js';
import './suites/stack-traces.js';
// On a server of its own (see there).
import './suites/session-continue-as-new.js';

beforeAll(async () => {
  useEnv(await WorkflowTestEnv.start(import.meta.url));
});
afterEach(() => env.cleanUp());
afterAll(() => env?.teardown());
