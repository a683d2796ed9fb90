import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const read = (path: string) => readFileSync(fileURLToPath(new URL(`../../${path}`, import.meta.url)), 'utf8');

/** scripts/prod-stack.sh stands in for docker-compose.yml: both must run the same Temporal server. */
describe('the Temporal server of the production topology', () => {
  const pinned = read('scripts/versions.env').match(/^TEMPORAL_SERVER_VERSION=(.+)$/m)?.[1];
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, { image?: string }> };

  it('is the version the compose file runs, with the admin tools of that version', () => {
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(compose.services.temporal?.image).toBe(`temporalio/server:${pinned}`);
    expect(compose.services['temporal-schema']?.image).toMatch(new RegExp(`^temporalio/admin-tools:${pinned!.replace(/\./g, '\\.')}-`));
  });
});
