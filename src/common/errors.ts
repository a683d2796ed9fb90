import { ApplicationFailure } from '@temporalio/common';

/**
 * Every error sbx reports carries one of these types, from host activities through the session
 * workflow to the client and CLI. Only `Busy` and `ContinuedAsNew` are worth retrying; the rest fail at once.
 */
export const SbxErrorType = {
  InvalidArgument: 'InvalidArgument',
  PathEscape: 'PathEscape',
  SessionNotFound: 'SessionNotFound',
  SessionExists: 'SessionExists',
  SessionPaused: 'SessionPaused',
  SessionDestroyed: 'SessionDestroyed',
  InvalidState: 'InvalidState',
  SnapshotNotFound: 'SnapshotNotFound',
  TemplateNotFound: 'TemplateNotFound',
  ProcessNotFound: 'ProcessNotFound',
  NotFound: 'NotFound',
  AlreadyExists: 'AlreadyExists',
  NoSpace: 'NoSpace',
  Busy: 'Busy',
  PoolFaulted: 'PoolFaulted',
  CommandMissing: 'CommandMissing',
  HostLost: 'HostLost',
  OutcomeUnknown: 'OutcomeUnknown',
  CreateFailed: 'CreateFailed',
  MaxSessionsReached: 'MaxSessionsReached',
  NoCapacity: 'NoCapacity',
  CommandFailed: 'CommandFailed',
  /** A workflow acted on a sandbox that another workflow owns (recorded on its host). */
  NotOwner: 'NotOwner',
  /** The session is continuing as new: the call did not run (or runs on), send it again unchanged. */
  ContinuedAsNew: 'ContinuedAsNew',
  /** A tool call's full output is no longer kept on the host. */
  OutputExpired: 'OutputExpired',
} as const;
export type SbxErrorType = (typeof SbxErrorType)[keyof typeof SbxErrorType];

const retryable: ReadonlySet<SbxErrorType> = new Set([SbxErrorType.Busy, SbxErrorType.CommandFailed, SbxErrorType.ContinuedAsNew]);

/** A typed Temporal failure; non-retryable unless a retry could help. */
export function sbxFailure(type: SbxErrorType, message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: !retryable.has(type),
    details: details === undefined ? undefined : [details],
  });
}

export function isSbxErrorType(value: unknown): value is SbxErrorType {
  return typeof value === 'string' && value in SbxErrorType;
}
