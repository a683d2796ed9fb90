import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import { NAME_PATTERN } from '../../common/names.js';
import { MIN_QUOTA_BYTES, type SandboxOrigin } from '../../common/sandbox.js';

/**
 * Refuses anything but a plain name (no `/`, `..`, `@`, spaces; 1-63 characters) before it reaches a
 * dataset name or a path. Callers validate too; storage checks again because zfs itself accepts
 * names such as `a@b c` and `x..y`.
 */
export function assertName(kind: 'sandboxId' | 'template' | 'snapshot name', value: string): void {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    const shown = typeof value === 'string' ? JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value) : String(value);
    throw sbxFailure(
      SbxErrorType.InvalidArgument,
      `${kind} ${shown} is not valid: use 1-63 characters of lowercase letters, digits and "-", starting with a letter or digit.`,
    );
  }
}

export function assertQuota(quotaBytes: number): void {
  if (!Number.isSafeInteger(quotaBytes) || quotaBytes < MIN_QUOTA_BYTES) {
    throw sbxFailure(
      SbxErrorType.InvalidArgument,
      `quota ${quotaBytes} is not valid: give a whole number of bytes, at least ${MIN_QUOTA_BYTES} (16 MiB).`,
    );
  }
}

/** How a session records where it came from, to tell a repeated create from a conflicting one. */
export function originLabel(origin: SandboxOrigin): string {
  return origin.kind === 'template' ? `template:${origin.template}` : `snapshot:${origin.sandboxId}@${origin.snapshot}`;
}
