import { execa } from 'execa';
import { SbxErrorType } from '../../src/common/errors.js';
import { classifyZfsError, zfsFailure } from '../../src/activities/host/zfs-errors.js';

// stderr captured from zfs-fuse 0.7 (pool version 23) on the development host, unless marked.
const real = {
  listMissing: "cannot open 'sbx/probe/nope': dataset does not exist\n",
  rollbackMissing: "cannot open 'sbx/probe/a@nope': dataset does not exist\n",
  createExisting: "cannot create 'sbx/probe/a/b': dataset already exists\n",
  snapshotExisting: "cannot create snapshot 'sbx/probe/a@s1': dataset already exists\n",
  recvExisting: "cannot receive new filesystem stream: destination 'sbx/probe/copy' exists\nmust specify -F to overwrite it\n",
  sendMissing: 'WARNING: could not send sbx/probe/a@nope: does not exist\ncannot receive: failed to read from stream\n',
  renameBusy: "cannot rename 'sbx/probe/staging/f1': dataset is busy\n",
  quotaBelowUsed: "cannot set property for 'sbx/probe/q': size is less than current used or reserved space\n",
  quotaNotNumber: "cannot set property for 'sbx/probe/q': bad numeric value 'abc'\n",
  writeOverQuota: "dd: error writing '/tmp/probe-mnt/q/big': Disk quota exceeded\n",
  recvGarbage: 'cannot receive: failed to read from stream\n',
};
// OpenZFS wording for states that cannot be produced on a healthy test pool without harming it.
const openzfs = {
  suspended: "cannot create 'tank/x': pool I/O is currently suspended\n",
  noSpace: "cannot create 'tank/x': out of space\n",
};

describe('classifyZfsError', () => {
  it.each([
    ['a missing dataset', real.listMissing, SbxErrorType.NotFound],
    ['a missing snapshot', real.rollbackMissing, SbxErrorType.NotFound],
    ['a missing source of send', real.sendMissing, SbxErrorType.NotFound],
    ['an existing dataset', real.createExisting, SbxErrorType.AlreadyExists],
    ['an existing snapshot', real.snapshotExisting, SbxErrorType.AlreadyExists],
    ['an existing receive target', real.recvExisting, SbxErrorType.AlreadyExists],
    ['a busy dataset', real.renameBusy, SbxErrorType.Busy],
    ['a quota below the used space', real.quotaBelowUsed, SbxErrorType.InvalidArgument],
    ['a quota that is not a number', real.quotaNotNumber, SbxErrorType.InvalidArgument],
    ['a write over quota', real.writeOverQuota, SbxErrorType.NoSpace],
    ['a pool out of space', openzfs.noSpace, SbxErrorType.NoSpace],
    ['a suspended pool', openzfs.suspended, SbxErrorType.PoolFaulted],
    ['anything else', real.recvGarbage, SbxErrorType.CommandFailed],
  ])('classifies %s', (_what, stderr, type) => {
    expect(classifyZfsError({ stderr, exitCode: 1 })).toBe(type);
  });

  it('uses the caller\'s precise type for "does not exist"', () => {
    expect(classifyZfsError({ stderr: real.rollbackMissing, exitCode: 1 }, SbxErrorType.SnapshotNotFound)).toBe(
      SbxErrorType.SnapshotNotFound,
    );
    expect(classifyZfsError({ stderr: real.createExisting, exitCode: 1 }, SbxErrorType.SnapshotNotFound)).toBe(SbxErrorType.AlreadyExists);
  });

  it('reports a zfs command that is not installed as CommandMissing', async () => {
    const result = await execa('zfs-not-installed-here', ['list'], { reject: false });
    expect(classifyZfsError({ stderr: result.stderr, spawnCode: (result as { code?: string }).code })).toBe(SbxErrorType.CommandMissing);
  });
});

describe('zfsFailure', () => {
  it('names the operation and the dataset, says what to do and keeps what zfs said', () => {
    const failure = zfsFailure(
      { stderr: real.rollbackMissing, exitCode: 1 },
      { operation: 'roll back to', dataset: 'sbx/probe/a@nope', notFound: SbxErrorType.SnapshotNotFound },
    );
    expect(failure.type).toBe(SbxErrorType.SnapshotNotFound);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toBe(
      "Could not roll back to sbx/probe/a@nope: it does not exist. (zfs: cannot open 'sbx/probe/a@nope': dataset does not exist)",
    );
  });

  it('marks a busy dataset retryable and a full one not', () => {
    expect(zfsFailure({ stderr: real.renameBusy, exitCode: 1 }, { operation: 'destroy', dataset: 'x' }).nonRetryable).toBe(false);
    const full = zfsFailure({ stderr: openzfs.noSpace, exitCode: 1 }, { operation: 'clone', dataset: 'tank/x' });
    expect(full.nonRetryable).toBe(true);
    expect(full.message).toMatch(/raise the quota/);
  });
});
