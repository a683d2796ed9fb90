import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { containerId, pinnedFlags } from '../../src/activities/host/runsc.js';
import { runscPath } from '../../src/dev/paths.js';
import { ExecRequest } from '../../src/common/sandbox.js';
import { runscSandbox } from '../harness/runsc-sandbox.js';

/**
 * An idle sandbox must not keep a host core busy: the pinned gVisor's systrap fast-path monitor woke
 * every 400 µs for the sandbox's whole life (~2.5% of a core each, so ~75 idle sessions filled this
 * machine). With sbx's patch (scripts/gvisor-patches/) it parks until the sandbox runs again.
 */
describe('an idle gVisor sandbox (real runsc on a ZFS dataset)', () => {
  const sandbox = runscSandbox(import.meta.url);
  const { stack, sessionId, runtime } = sandbox;

  const exec = (command: string) => runtime.exec(sessionId, sandbox.bundle, ExecRequest.parse({ toolCallId: 't', command }));
  /** The sentry's goroutine running the systrap fast-path monitor, from runsc's stack dump. */
  const monitorStack = async () => {
    const flags = ['--root', stack.runscRoot, ...pinnedFlags(runscPath())];
    const { all } = await execa(runscPath(), [...flags, 'debug', '--stacks', containerId(sessionId)], { all: true });
    return all.split(/\n\n+/).find((goroutine) => goroutine.includes('systrap.controlFastPath')) ?? 'no monitor goroutine';
  };

  it('parks the platform monitor once nothing runs, and wakes it for the next command', async () => {
    expect((await exec('echo busy')).stdout).toBe('busy\n');
    // Nothing runs now but the waiting init: a parked monitor stays parked, a polling one is caught
    // in its 400 µs sleep at almost every look, so a few looks tell them apart.
    let monitor = '';
    for (let look = 0; look < 5 && !monitor.includes('fastPathState).park'); look++) {
      if (look > 0) await sleep(200);
      monitor = await monitorStack();
    }
    expect(monitor).toContain('fastPathState).park');
    expect((await exec('echo awake')).stdout).toBe('awake\n');
  });
});
