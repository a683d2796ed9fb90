import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The module at `js`: compiled JavaScript under dist/, its TypeScript source when run from source. */
export function moduleFile(js: URL): string {
  const path = fileURLToPath(js);
  return existsSync(path) ? path : path.replace(/\.js$/, '.ts');
}
