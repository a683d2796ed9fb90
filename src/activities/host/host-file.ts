import { readFileSync } from 'node:fs';

/**
 * The text of a small file of the host's own (a journal entry, a cgroup counter), or undefined when it
 * cannot be read. Read synchronously: these sit on every tool call's path, where a read costs
 * microseconds and an asynchronous one a thread-pool round trip (~0.2 ms on a loaded host).
 */
export function readHostFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
