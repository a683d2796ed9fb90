import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, found from this file whether it runs from src/ (tests) or dist/ (CLI). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Pinned versions, shared with scripts/bootstrap.sh through scripts/versions.env. */
export function pinnedVersions(): { temporalCli: string; moto: string; gvisor: string; gvisorPatchlevel: string; temporalioPy: string } {
  const text = readFileSync(join(repoRoot, 'scripts', 'versions.env'), 'utf8');
  const values = Object.fromEntries(
    text
      .split('\n')
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => line.split('=', 2) as [string, string]),
  );
  return {
    temporalCli: values.TEMPORAL_CLI_VERSION!,
    moto: values.MOTO_VERSION!,
    gvisor: values.GVISOR_VERSION!,
    gvisorPatchlevel: values.GVISOR_PATCHLEVEL!,
    temporalioPy: values.TEMPORALIO_PY_VERSION!,
  };
}

export function cacheDir(): string {
  return process.env.SBX_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sbx');
}

export function temporalCliPath(): string {
  return join(cacheDir(), `temporal-cli-${pinnedVersions().temporalCli}`, 'temporal');
}

export function motoServerPath(): string {
  return join(cacheDir(), `moto-${pinnedVersions().moto}`, 'bin', 'moto_server');
}

/** The Python of the virtualenv holding the Temporal Python SDK (examples/python). */
export function temporalioPythonPath(): string {
  return join(cacheDir(), `temporalio-py-${pinnedVersions().temporalioPy}`, 'bin', 'python');
}

/**
 * The runsc sbx runs: `SBX_RUNSC` when set, else the pinned gVisor the bootstrap built and checked,
 * else `runsc` on PATH (Debian's, which the bootstrap names when it falls back to it). A deployment
 * without this repository's scripts (the container image) gets `runsc` on PATH.
 */
export function runscPath(): string {
  if (process.env.SBX_RUNSC) return process.env.SBX_RUNSC;
  try {
    const { gvisor, gvisorPatchlevel } = pinnedVersions();
    const built = join(cacheDir(), `runsc-${gvisor}-sbx${gvisorPatchlevel}`, 'runsc');
    if (existsSync(built)) return built;
  } catch {
    // No versions.env beside the code: nothing was built for it.
  }
  return 'runsc';
}

/** Throws a message naming the missing part and the command that provides it. */
export function requireBuilt(path: string, what: string): string {
  if (!existsSync(path)) {
    throw new Error(`${what} not found at ${path}: run 'npm run bootstrap' first`);
  }
  return path;
}
