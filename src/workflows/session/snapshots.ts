import { setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import { turnSnapshotName, TURN_PREFIX } from '../../common/names.js';
import { parseInput } from '../../common/validate.js';
import {
  listSnapshotsQuery,
  NamedSnapshotRequest,
  rollbackUpdate,
  snapshotUpdate,
  SnapshotTarget,
  turnCompleteUpdate,
  type SnapshotRecord,
} from '../../protocol/messages.js';
import { SbxTurn } from '../../protocol/search-attributes.js';
import { namedSnapshotLimit, resolveSnapshot, snapshotsAfterRollback, snapshotsToPrune, turnAfterRollback } from '../session-rules.js';
import type { SessionEntity } from './entity.js';
import { sessionPatched } from './patches.js';

/** turnComplete, named snapshots and rollback: each holds the lifecycle lock alone. */
export function registerSnapshotHandlers(session: SessionEntity): void {
  const { lock, req, sessionId, host } = session;
  const s = () => session.record;

  setHandler(listSnapshotsQuery, () => s().snapshots);

  setHandler(
    turnCompleteUpdate,
    () =>
      lock.runExclusive(async () => {
        session.allowed('turnComplete');
        const turn = s().turn + 1;
        const name = turnSnapshotName(turn);
        const snap = await host.run('turn snapshot', () => host.acts().snapshotSandbox({ sandboxId: session.sandboxId, name }));
        s().snapshots.push({
          name,
          turn,
          createdAt: new Date().toISOString(),
          usedBytes: snap.usedBytes,
          referencedBytes: snap.referencedBytes,
        });
        s().turn = turn;
        upsertSearchAttributes([{ key: SbxTurn, value: turn }]);
        session.showStory();
        const prune = snapshotsToPrune(s().snapshots, req.maxSnapshots);
        if (prune.length > 0) {
          await host.run('prune snapshots', () => host.acts().destroySnapshots({ sandboxId: session.sandboxId, names: prune }));
          s().snapshots = s().snapshots.filter((snapshot) => !prune.includes(snapshot.name));
        }
        return { snapshotId: name, turn, usedBytes: snap.referencedBytes };
      }),
    { validator: () => session.allowed('turnComplete') },
  );

  setHandler(
    snapshotUpdate,
    (raw) =>
      lock.runExclusive(async () => {
        session.allowed('snapshot');
        const { name } = NamedSnapshotRequest.parse(raw);
        const existing = s().snapshots.find((snapshot) => snapshot.name === name);
        if (existing) return existing;
        const full = namedSnapshotLimit(s().snapshots, req.maxNamedSnapshots, sessionId);
        if (full && sessionPatched('named-snapshot-cap')) throw full;
        const snap = await host.run('snapshot', () => host.acts().snapshotSandbox({ sandboxId: session.sandboxId, name }));
        const record: SnapshotRecord = {
          name,
          createdAt: new Date().toISOString(),
          usedBytes: snap.usedBytes,
          referencedBytes: snap.referencedBytes,
        };
        s().snapshots.push(record);
        return record;
      }),
    {
      validator: (raw) => {
        const { name } = parseInput(NamedSnapshotRequest, raw, 'snapshot request');
        if (name.startsWith(TURN_PREFIX)) {
          throw sbxFailure(SbxErrorType.InvalidArgument, `snapshot names starting with '${TURN_PREFIX}' are reserved for turns`);
        }
        session.allowed('snapshot');
        if (!s().snapshots.some((snapshot) => snapshot.name === name)) {
          const full = namedSnapshotLimit(s().snapshots, req.maxNamedSnapshots, sessionId);
          if (full) throw full;
        }
      },
    },
  );

  setHandler(
    rollbackUpdate,
    (raw) =>
      lock.runExclusive(async () => {
        session.allowed('rollback');
        const target = resolveSnapshot(s().snapshots, SnapshotTarget.parse(raw), s().turn);
        // The sandbox restarts on the rolled-back filesystem, so a paused one comes back active.
        await host.run('rollback', () =>
          host.acts().rollbackSandbox({ sandboxId: session.sandboxId, name: target.name, resources: req.resources }),
        );
        s().snapshots = snapshotsAfterRollback(s().snapshots, target.name);
        s().turn = turnAfterRollback(s().snapshots);
        upsertSearchAttributes([{ key: SbxTurn, value: s().turn }]);
        session.showStory();
        if (s().state === 'paused') {
          s().pauseMode = undefined;
          session.setState('active');
        }
        return { snapshotId: target.name, turn: s().turn };
      }),
    {
      validator: (raw) => {
        resolveSnapshot(s().snapshots, parseInput(SnapshotTarget, raw, 'rollback request'), s().turn);
        session.allowed('rollback');
      },
    },
  );
}
