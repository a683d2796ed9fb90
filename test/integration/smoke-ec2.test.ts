import { DescribeInstancesCommand, EC2Client, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { testStack } from '../harness/stack.js';

describe("EC2 API (moto's real server)", () => {
  const ec2 = new EC2Client({
    endpoint: testStack().ec2Endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  afterAll(() => ec2.destroy());

  it('runs, describes and terminates an instance', async () => {
    const run = await ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-12c6146b',
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'sbx:fleet', Value: 'smoke' }] }],
      }),
    );
    const instanceId = run.Instances![0]!.InstanceId!;
    expect(instanceId).toMatch(/^i-[0-9a-f]+$/);

    const described = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:sbx:fleet', Values: ['smoke'] }] }));
    const found = described.Reservations!.flatMap((r) => r.Instances!).map((i) => i.InstanceId);
    expect(found).toEqual([instanceId]);

    const terminated = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    expect(terminated.TerminatingInstances![0]!.CurrentState!.Name).toMatch(/shutting-down|terminated/);
  });
});
