import { jest } from '@jest/globals';
import { ServiceError } from '@temporalio/client';
import { acrossContinueAsNew, SbxError } from '../../src/client/errors.js';

/** What the server answers an update while the session's workflow task keeps failing or timing out. */
function workflowTaskFailing(): Error {
  const grpc = Object.assign(
    new Error('9 FAILED_PRECONDITION: Unable to perform workflow execution update due to Workflow Task in failed state.'),
    {
      code: 9, // FAILED_PRECONDITION
      details: 'Unable to perform workflow execution update due to Workflow Task in failed state.',
    },
  );
  return new ServiceError('Workflow Update failed', { cause: grpc });
}

describe('a call the server refuses while the session is not ready', () => {
  it('is sent again and the caller gets its answer', async () => {
    let calls = 0;
    const answer = await acrossContinueAsNew(async () => {
      calls++;
      if (calls <= 2) throw workflowTaskFailing();
      return 'ran';
    }, 's1');
    expect(answer).toBe('ran');
    expect(calls).toBe(3);
  });

  it('a failure of the call itself is not sent again', async () => {
    let calls = 0;
    const failed = acrossContinueAsNew(async () => {
      calls++;
      throw new SbxError('CommandFailed', 'exit 1');
    }, 's1');
    await expect(failed).rejects.toThrow('exit 1');
    expect(calls).toBe(1);
  });
});

describe('a call answered ContinuedAsNew', () => {
  afterEach(() => jest.useRealTimers());

  it('is sent again at once, since the next run started with that answer', async () => {
    jest.useFakeTimers();
    let calls = 0;
    const answer = acrossContinueAsNew(async () => {
      calls++;
      if (calls === 1) throw new SbxError('ContinuedAsNew', 'continuing as new');
      return 'ran';
    }, 's1');
    // Settles what is pending without moving the clock: a resend that waited on a timer has not come.
    await jest.advanceTimersByTimeAsync(0);
    expect(calls).toBe(2);
    await expect(answer).resolves.toBe('ran');
  });

  it('waits between later resends while the next run is not there yet', async () => {
    jest.useFakeTimers();
    let calls = 0;
    const answer = acrossContinueAsNew(async () => {
      calls++;
      if (calls <= 2) throw new SbxError('ContinuedAsNew', 'continuing as new');
      return 'ran';
    }, 's1');
    await jest.advanceTimersByTimeAsync(0);
    expect(calls).toBe(2);
    await jest.advanceTimersByTimeAsync(50);
    await expect(answer).resolves.toBe('ran');
    expect(calls).toBe(3);
  });
});
