import { EC2Client } from '@aws-sdk/client-ec2';
import { ec2ClientConfig, type Ec2ProvisionerOptions } from '../../src/activities/control/ec2-provisioner.js';
import { ec2ErrorType, instanceTags, launchClientToken, toInstanceState } from '../../src/activities/control/ec2-mapping.js';
import { hostUserData } from '../../src/activities/control/host-user-data.js';

const options: Ec2ProvisionerOptions = {
  region: 'eu-west-1',
  imageId: 'ami-0abc1234',
  instanceType: 'm7i.large',
  temporalAddress: 'temporal:7233',
  temporalNamespace: 'default',
};

describe('launch client token', () => {
  it('is the same for the same fleet and host, and fits EC2 (at most 64 ASCII characters)', () => {
    const token = launchClientToken('default', 'host-1');
    expect(launchClientToken('default', 'host-1')).toBe(token);
    expect(token).toMatch(/^[\x21-\x7e]{1,64}$/);
    expect(launchClientToken('a'.repeat(63), 'b'.repeat(63)).length).toBeLessThanOrEqual(64);
  });

  it('differs between hosts and fleets, including names that concatenate alike', () => {
    const tokens = [
      launchClientToken('default', 'host-1'),
      launchClientToken('default', 'host-2'),
      launchClientToken('other', 'host-1'),
      launchClientToken('a-b', 'c'),
      launchClientToken('a', 'b-c'),
    ];
    expect(new Set(tokens).size).toBe(tokens.length);
  });
});

describe('host user data', () => {
  const script = hostUserData({
    hostId: 'host-7',
    fleetId: 'prod',
    temporalAddress: 'temporal.prod:7233',
    namespace: 'sbx',
    extra: 'echo prepared',
  });

  it('installs and starts sbx host as a service that registers with its fleet', () => {
    expect(script.startsWith('#!/bin/sh\n')).toBe(true);
    expect(script).toContain(
      'ExecStart=/usr/bin/env sbx host --host-id host-7 --fleet prod --control-task-queue sbx-control --temporal-address temporal.prod:7233 --namespace sbx\n',
    );
    expect(script).toContain('systemctl enable --now sbx-host.service');
    expect(script).toContain('Restart=always');
  });

  it('runs the extra commands before the host starts', () => {
    expect(script.indexOf('echo prepared')).toBeGreaterThan(0);
    expect(script.indexOf('echo prepared')).toBeLessThan(script.indexOf('systemctl enable'));
  });

  it('refuses values that would break out of the script', () => {
    expect(() => hostUserData({ hostId: 'h', fleetId: 'f', temporalAddress: 'x:1; reboot', namespace: 'd' })).toThrow(/temporalAddress/);
    expect(() => hostUserData({ hostId: 'h', fleetId: 'f', temporalAddress: 'x:1', namespace: 'd$(id)' })).toThrow(/namespace/);
    expect(() => hostUserData({ hostId: 'H 1', fleetId: 'f', temporalAddress: 'x:1', namespace: 'd' })).toThrow(/hostId/);
  });
});

describe('EC2 mapping', () => {
  it('tags an instance with its fleet, host, template and a readable name', () => {
    expect(instanceTags('prod', 'h1', 'debian')).toEqual([
      { Key: 'Name', Value: 'sbx-prod-h1' },
      { Key: 'sbx:fleet', Value: 'prod' },
      { Key: 'sbx:host', Value: 'h1' },
      { Key: 'sbx:template', Value: 'debian' },
    ]);
    expect(instanceTags('prod', 'h1').map((t) => t.Key)).not.toContain('sbx:template');
  });

  it('counts shutting-down as terminated', () => {
    expect(toInstanceState('shutting-down')).toBe('terminated');
    expect(toInstanceState('terminated')).toBe('terminated');
    expect(toInstanceState('running')).toBe('running');
    expect(toInstanceState('stopped')).toBe('stopped');
  });

  it('makes throttling and capacity shortages retryable, configuration errors final', () => {
    expect(ec2ErrorType('RequestLimitExceeded', 'client')).toBe('Busy');
    expect(ec2ErrorType('InsufficientInstanceCapacity', 'server')).toBe('Busy');
    expect(ec2ErrorType('VcpuLimitExceeded', 'client')).toBe('NoSpace');
    expect(ec2ErrorType('InvalidAMIID.NotFound', 'client')).toBe('InvalidArgument');
    expect(ec2ErrorType('InvalidInstanceID.NotFound', 'client')).toBe('NotFound');
    expect(ec2ErrorType('InternalError', 'server')).toBe('CommandFailed');
    expect(ec2ErrorType('ECONNREFUSED', undefined)).toBe('CommandFailed');
  });
});

describe('EC2 client retries', () => {
  it('uses the adaptive retry mode with 8 attempts unless told otherwise', () => {
    expect(ec2ClientConfig(options)).toMatchObject({ retryMode: 'adaptive', maxAttempts: 8, region: 'eu-west-1' });
    expect(ec2ClientConfig({ ...options, maxAttempts: 3 })).toMatchObject({ maxAttempts: 3 });
  });

  it('gives the client a strategy that retries throttling with backoff and does not retry client errors', async () => {
    const client = new EC2Client(ec2ClientConfig(options));
    try {
      // The SDK's retry strategy interface (v2), as far as this test uses it.
      type Token = { getRetryCount(): number };
      const strategy = (await client.config.retryStrategy()) as unknown as {
        mode: string;
        maxAttemptsProvider(): Promise<number>;
        acquireInitialRetryToken(scope: string): Promise<Token>;
        refreshRetryTokenForRetry(token: Token, info: { errorType: string }): Promise<Token>;
      };
      expect(strategy.mode).toBe('adaptive');
      expect(await strategy.maxAttemptsProvider()).toBe(8);

      const token = await strategy.acquireInitialRetryToken('ec2');
      const retry = await strategy.refreshRetryTokenForRetry(token, { errorType: 'THROTTLING' });
      expect(retry.getRetryCount()).toBe(1);
      await expect(strategy.refreshRetryTokenForRetry(retry, { errorType: 'CLIENT_ERROR' })).rejects.toThrow();
    } finally {
      client.destroy();
    }
  });
});
