import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { staleBundleReason, workflowBundleEntries, workflowPreloadModules, workflowsPath } from '../../src/workers/workflow-bundle.js';
import { workflowInterceptorModules } from '../../src/workers/workflow-interceptors.js';

/**
 * A control worker loads the prebuilt workflow bundle only while it holds the compiled workflows:
 * a bundle older than any module the workflows import would run yesterday's workflow code.
 */
describe('staleBundleReason', () => {
  let dist: string;
  const bundle = () => join(dist, 'workflow-bundle.js');
  const entries = () => [join(dist, 'workflows', 'index.js'), join(dist, 'workflows', 'guard.js')];
  /** Sets a file's modification time, in seconds since the epoch. */
  const age = (file: string, seconds: number) => utimesSync(join(dist, file), seconds, seconds);

  beforeEach(() => {
    dist = mkdtempSync(join(tmpdir(), 'sbx-bundle-'));
    mkdirSync(join(dist, 'workflows'));
    mkdirSync(join(dist, 'common'));
    writeFileSync(join(dist, 'workflows', 'index.js'), "export { Session } from './session.js';\n");
    writeFileSync(join(dist, 'workflows', 'session.js'), "import { z } from 'zod';\nimport { sbxFailure } from '../common/errors.js';\n");
    writeFileSync(join(dist, 'workflows', 'guard.js'), 'export const interceptors = () => ({});\n');
    writeFileSync(join(dist, 'common', 'errors.js'), 'export const sbxFailure = 1;\n');
    writeFileSync(join(dist, 'common', 'unrelated.js'), 'export const cli = 1;\n');
    writeFileSync(bundle(), '// bundle\n');
    for (const file of ['workflows/index.js', 'workflows/session.js', 'workflows/guard.js', 'common/errors.js', 'common/unrelated.js'])
      age(file, 1000);
    age('workflow-bundle.js', 2000);
  });
  afterEach(() => rmSync(dist, { recursive: true, force: true }));

  it('accepts a bundle no older than the compiled workflows', () => {
    age('common/errors.js', 2000);
    expect(staleBundleReason(bundle(), entries())).toBeUndefined();
  });

  it('refuses a missing bundle', () => {
    rmSync(bundle());
    expect(staleBundleReason(bundle(), entries())).toBe(`there is no prebuilt bundle at ${bundle()}`);
  });

  it('refuses a bundle older than a module the workflows import, however deep', () => {
    age('common/errors.js', 3000);
    expect(staleBundleReason(bundle(), entries())).toBe(`${join(dist, 'common', 'errors.js')} is newer than ${bundle()}`);
  });

  it('refuses a bundle older than an interceptor module', () => {
    age('workflows/guard.js', 3000);
    expect(staleBundleReason(bundle(), entries())).toContain('guard.js is newer than');
  });

  it('refuses a bundle whose workflows import a module that is gone', () => {
    rmSync(join(dist, 'common', 'errors.js'));
    expect(staleBundleReason(bundle(), entries())).toBe(`${join(dist, 'common', 'errors.js')} is missing`);
  });

  it('ignores compiled code the workflows do not import', () => {
    age('common/unrelated.js', 3000);
    expect(staleBundleReason(bundle(), entries())).toBeUndefined();
  });

  it('checks every module the real bundle is made from, the preloaded ones too', () => {
    expect(workflowBundleEntries()).toEqual([workflowsPath(), ...workflowInterceptorModules(), ...workflowPreloadModules()]);
    expect(workflowPreloadModules()).toEqual([expect.stringMatching(/shared-libraries\.(js|ts)$/)]);
  });
});
