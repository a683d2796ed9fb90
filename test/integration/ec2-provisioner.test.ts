import { DescribeInstanceAttributeCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { Ec2Provisioner, type Ec2ProvisionerOptions } from '../../src/activities/control/ec2-provisioner.js';
import { launchClientToken } from '../../src/activities/control/ec2-mapping.js';
import { hostUserData } from '../../src/activities/control/host-user-data.js';
import { testStack } from '../harness/stack.js';
import { describeProvisionerContract } from './provisioner-contract.js';

const base = (): Ec2ProvisionerOptions => ({
  region: 'us-east-1',
  endpoint: testStack().ec2Endpoint,
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  imageId: 'ami-12c6146b',
  instanceType: 't3.micro',
  temporalAddress: 'temporal.internal:7233',
  temporalNamespace: 'sbx',
  pageSize: 5,
});

describeProvisionerContract('ec2', () => {
  const provisioner = new Ec2Provisioner(base());
  return { provisioner, unknownInstanceId: 'i-0123456789abcdef0', close: () => provisioner.destroy() };
});

describe("EC2 provisioner against moto's EC2 server", () => {
  const runTag = Date.now().toString(36);
  const provisioner = new Ec2Provisioner({ ...base(), userDataExtra: 'apt-get install -y sbx' });
  const ec2 = new EC2Client({
    region: 'us-east-1',
    endpoint: testStack().ec2Endpoint,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  const launched: string[] = [];

  afterAll(async () => {
    for (const id of launched) await provisioner.terminate(id);
    provisioner.destroy();
    ec2.destroy();
  });

  it('lists a fleet larger than one page of DescribeInstances', async () => {
    const fleetId = `big-${runTag}`;
    for (let i = 0; i < 12; i++) {
      launched.push((await provisioner.launch({ fleetId, hostId: `host-${i}` })).instanceId);
    }
    const onePage = await ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'tag:sbx:fleet', Values: [fleetId] }], MaxResults: 5 }),
    );
    expect(onePage.NextToken).toBeDefined();

    const listed = await provisioner.list({ fleetId });
    expect(listed.map((i) => i.instanceId).sort()).toEqual([...launched].sort());
    expect(new Set(listed.map((i) => i.hostId)).size).toBe(12);
  });

  it('launches with a deterministic client token, sbx tags and user data that starts the host', async () => {
    const fleetId = `tags-${runTag}`;
    const instance = await provisioner.launch({ fleetId, hostId: 'h1', template: 'debian' });
    launched.push(instance.instanceId);

    const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instance.instanceId] }));
    const raw = described.Reservations![0]!.Instances![0]!;
    expect(raw.ClientToken).toBe(launchClientToken(fleetId, 'h1'));
    expect(Object.fromEntries(raw.Tags!.map((t) => [t.Key, t.Value]))).toEqual({
      Name: `sbx-${fleetId}-h1`,
      'sbx:fleet': fleetId,
      'sbx:host': 'h1',
      'sbx:template': 'debian',
    });

    const attribute = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: instance.instanceId, Attribute: 'userData' }));
    const userData = Buffer.from(attribute.UserData!.Value!, 'base64').toString('utf8');
    expect(userData).toBe(
      hostUserData({ hostId: 'h1', fleetId, temporalAddress: 'temporal.internal:7233', namespace: 'sbx', extra: 'apt-get install -y sbx' }),
    );
    expect(userData).toContain(
      `sbx host --host-id h1 --fleet ${fleetId} --control-task-queue sbx-control --temporal-address temporal.internal:7233`,
    );
  });

  it('returns the terminated instance from describe, and leaves it out of list', async () => {
    const fleetId = `gone-${runTag}`;
    const instance = await provisioner.launch({ fleetId, hostId: 'h1' });
    await provisioner.terminate(instance.instanceId);
    expect(await provisioner.describe(instance.instanceId)).toMatchObject({ hostId: 'h1', state: 'terminated' });
    expect(await provisioner.list({ fleetId })).toEqual([]);
  });

  it('refuses options that cannot work', () => {
    expect(() => new Ec2Provisioner({ ...base(), pageSize: 4 })).toThrow(/pageSize/);
    expect(() => new Ec2Provisioner({ ...base(), imageId: undefined })).toThrow(/imageId or launchTemplate/);
  });
});
