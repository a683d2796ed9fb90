import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import { SANDBOX_WORKDIR } from './oci-spec.js';

/**
 * A path inside the sandbox as an absolute, normalized one (a relative path starts at /workspace),
 * worked out from its text alone. `..` may not climb above the sandbox's root: such a path is
 * refused (PathEscape), as the file API refuses it, rather than quietly taken as `/`.
 */
export function sandboxAbsolutePath(path: string, what = 'Path'): string {
  const segments: string[] = path.startsWith('/') ? [] : SANDBOX_WORKDIR.split('/').filter(Boolean);
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') segments.push(part);
    else if (segments.pop() === undefined) throw pathEscape(path, what);
  }
  return `/${segments.join('/')}`;
}

export function pathEscape(path: string, what = 'Path'): Error {
  return sbxFailure(SbxErrorType.PathEscape, `${what} ${path} leads outside the sandbox's root: use a path inside it.`);
}
