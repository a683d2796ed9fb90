import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { parse } from 'yaml';

/** The part of the compose format these checks read. */
interface Service {
  image?: string;
  build?: unknown;
  entrypoint?: string[];
  command?: string[] | string;
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
  ports?: string[];
  privileged?: boolean;
  devices?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
}

const composePath = fileURLToPath(new URL('../../docker-compose.yml', import.meta.url));
const compose = parse(readFileSync(composePath, 'utf8'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;

function service(name: string): Service {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service '${name}'`);
  return found;
}

/** A `sh -c` service's script as the shell sees it (compose turns `$$` into `$`). */
function script(name: string): string {
  const { entrypoint, command } = service(name);
  expect(entrypoint).toEqual(['/bin/sh', '-c']);
  const text = Array.isArray(command) ? command[0] : command;
  return (text ?? '').replaceAll('$$', '$');
}

describe('docker-compose.yml', () => {
  it('pins every image to a version, never latest', () => {
    for (const [name, svc] of Object.entries(services)) {
      expect({ name, image: svc.image }).toEqual({ name, image: expect.stringMatching(/^[\w./-]+:[\w.-]*\d[\w.-]*$/) });
      expect(svc.image).not.toMatch(/:latest$/);
    }
  });

  it('names only existing services in depends_on', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const target of Object.keys(svc.depends_on ?? {})) {
        expect({ name, target, exists: target in services }).toEqual({ name, target, exists: true });
      }
    }
  });

  it('starts Temporal 1.29 on PostgreSQL only after the schema setup succeeded', () => {
    const temporal = service('temporal');
    expect(temporal.image).toMatch(/^temporalio\/server:1\.29\.\d+$/);
    expect(temporal.depends_on?.['temporal-schema']?.condition).toBe('service_completed_successfully');
    expect(temporal.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgres' });
    expect(service('postgres').image).toMatch(/^postgres:16(\.|$)/);
    expect(temporal.healthcheck?.test.join(' ')).toContain('7233');
  });

  it('creates and migrates both Temporal databases', () => {
    const setup = script('temporal-schema');
    for (const db of ['temporal', 'temporal_visibility']) {
      for (const step of ['create', 'setup-schema', 'update-schema']) {
        expect(setup).toMatch(new RegExp(`temporal-sql-tool --db ${db} ${step}\\b`));
      }
    }
    expect(setup).toContain('/postgresql/v12/temporal/versioned');
    expect(setup).toContain('/postgresql/v12/visibility/versioned');
    expect(service('temporal-schema').environment).toMatchObject({ SQL_PLUGIN: 'postgres12', SQL_HOST: 'postgres' });
  });

  it('registers the four sbx search attributes with their types', () => {
    const init = script('temporal-init');
    const created = Object.fromEntries(
      [...init.matchAll(/search-attribute create -n default --name (\w+) --type (\w+)/g)].map((m) => [m[1], m[2]]),
    );
    expect(created).toEqual({ SbxSessionState: 'Keyword', SbxHost: 'Keyword', SbxTemplate: 'Keyword', SbxTurn: 'Int' });
    expect(service('temporal-init').environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
  });

  it('keeps its shell scripts free of syntax errors', async () => {
    for (const name of ['temporal-schema', 'temporal-init']) {
      await expect(execa('sh', ['-n'], { input: script(name) })).resolves.toMatchObject({ exitCode: 0 });
    }
    const entrypoint = fileURLToPath(new URL('../../docker/host-entrypoint.sh', import.meta.url));
    await expect(execa('sh', ['-n', entrypoint])).resolves.toMatchObject({ exitCode: 0 });
  });

  it('serves the Web UI on 8080, pointed at the server', () => {
    const ui = service('temporal-ui');
    expect(ui.image).toMatch(/^temporalio\/ui:2\.\d+\.\d+$/);
    expect(ui.environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(ui.ports).toContain('8080:8080');
    expect(service('temporal').ports).toContain('7233:7233');
  });

  it('runs the control worker from the sbx image after Temporal is initialised', () => {
    const control = service('sbx-control');
    expect(control.build).toBeDefined();
    expect(control.command).toEqual(['control']);
    expect(control.environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(control.depends_on?.['temporal-init']?.condition).toBe('service_completed_successfully');
  });

  it('runs the host worker privileged, with /dev/fuse and a data volume', () => {
    const host = service('sbx-host');
    expect(host.image).toBe(service('sbx-control').image);
    expect(host.command).toEqual(['host']);
    expect(host.privileged).toBe(true);
    expect(host.devices?.some((d) => d.startsWith('/dev/fuse'))).toBe(true);
    expect(host.volumes?.some((v) => v.endsWith(':/var/lib/sbx'))).toBe(true);
    expect(host.environment).toMatchObject({ SBX_HOST_ID: 'host-1', SBX_STORAGE: 'zfs', SBX_RUNTIME: 'gvisor' });
    expect(host.depends_on?.['temporal-init']?.condition).toBe('service_completed_successfully');
  });
});
