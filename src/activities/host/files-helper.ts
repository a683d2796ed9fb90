import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The helper binary's name in the helper directory (built from helpers/sbx-files by the bootstrap). */
export const FILES_HELPER = 'sbx-files';
/** The toolCallId of every run of the helper, so a runtime can tell its own calls apart. */
export const FILES_CALL_ID = 'sbx-files';

/** Where the bootstrap puts it: `dist/sandbox-bin/`, whether this runs from src/ (tests) or dist/. */
export const DEFAULT_HELPER_DIR = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'), 'dist', 'sandbox-bin');

/** Checks the helper directory at worker start, so a missing build fails there and not per call. */
export function requireFilesHelper(helperDir = DEFAULT_HELPER_DIR): string {
  if (!existsSync(join(helperDir, FILES_HELPER))) {
    throw new Error(`the sbx-files helper is missing from ${helperDir}: run 'npm run bootstrap' (it builds helpers/sbx-files with Go)`);
  }
  return helperDir;
}
