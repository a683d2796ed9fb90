import {
  DescribeInstancesCommand,
  EC2Client,
  type EC2ClientConfig,
  type Filter,
  type Instance as Ec2Instance,
  type RunInstancesCommandInput,
  type Tag,
  RunInstancesCommand,
  TerminateInstancesCommand,
  paginateDescribeInstances,
  waitUntilInstanceRunning,
} from '@aws-sdk/client-ec2';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import { parseInput } from '../../common/validate.js';
import { FLEET_TAG, HOST_TAG, LIVE_EC2_STATES, ec2ErrorType, instanceTags, launchClientToken, toInstanceState } from './ec2-mapping.js';
import { hostUserData } from './host-user-data.js';
import { type Instance, LaunchRequest, ListRequest, type Provisioner, WaitOptions } from './provisioner.js';
import { Ec2ProvisionerFields } from './ec2-provisioner-fields.js';

export const Ec2ProvisionerOptions = Ec2ProvisionerFields.refine((o) => o.imageId || o.launchTemplate, 'set imageId or launchTemplate');
export type Ec2ProvisionerOptions = z.input<typeof Ec2ProvisionerOptions>;

const InstanceId = z.string().regex(/^i-[0-9a-f]{8,17}$/, 'instanceId must look like i-0123456789abcdef0');

/**
 * EC2 client settings. Throttling (RequestLimitExceeded, Throttling) and transient errors are retried
 * by the SDK's own strategy, not by hand: exponential backoff with full jitter, capped at 20 s, up to
 * `maxAttempts`. The adaptive mode adds a client-side rate limiter that slows every call of this
 * client once AWS throttles, which is what several concurrent provisions of one fleet need; a retried
 * RunInstances is safe because it carries the same ClientToken.
 */
export function ec2ClientConfig(options: Ec2ProvisionerOptions): EC2ClientConfig {
  const o = parseInput(Ec2ProvisionerOptions, options, 'EC2 provisioner options');
  return {
    region: o.region,
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    ...(o.credentials ? { credentials: o.credentials } : {}),
    maxAttempts: o.maxAttempts,
    retryMode: 'adaptive',
  };
}

export class Ec2Provisioner implements Provisioner {
  readonly kind = 'ec2';
  private readonly options: z.output<typeof Ec2ProvisionerOptions>;
  private readonly client: EC2Client;

  constructor(options: Ec2ProvisionerOptions) {
    this.options = parseInput(Ec2ProvisionerOptions, options, 'EC2 provisioner options');
    this.client = new EC2Client(ec2ClientConfig(options));
  }

  /**
   * Looks for the host's live instance first, then runs one with a deterministic ClientToken. The
   * look-up covers providers and token expiry where the token alone would not; the token covers the
   * moments when a just-launched instance is not yet visible to DescribeInstances. A hostId is thus
   * single-use per fleet: after its instance is terminated, launch a new hostId.
   */
  async launch(request: LaunchRequest): Promise<Instance> {
    const { fleetId, hostId, template } = parseInput(LaunchRequest, request, 'launch request');
    const existing = await this.find([
      { Name: `tag:${FLEET_TAG}`, Values: [fleetId] },
      { Name: `tag:${HOST_TAG}`, Values: [hostId] },
      { Name: 'instance-state-name', Values: LIVE_EC2_STATES },
    ]);
    if (existing[0]) return existing[0];

    const tags = instanceTags(fleetId, hostId, template);
    const result = await this.call('RunInstances', () => this.client.send(new RunInstancesCommand(this.runInput(fleetId, hostId, tags))));
    const launched = result.Instances?.[0];
    if (!launched) throw sbxFailure(SbxErrorType.CommandFailed, `RunInstances for host ${hostId} returned no instance`);
    return toInstance(launched, hostId);
  }

  async terminate(instanceId: string): Promise<void> {
    const id = parseInput(InstanceId, instanceId, 'instanceId');
    try {
      await this.call('TerminateInstances', () => this.client.send(new TerminateInstancesCommand({ InstanceIds: [id] })));
    } catch (err) {
      if (err instanceof ApplicationFailure && err.type === SbxErrorType.NotFound) return;
      throw err;
    }
  }

  async describe(instanceId: string): Promise<Instance | undefined> {
    const id = parseInput(InstanceId, instanceId, 'instanceId');
    try {
      const result = await this.call('DescribeInstances', () => this.client.send(new DescribeInstancesCommand({ InstanceIds: [id] })));
      const found = result.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === id);
      return found && toInstance(found);
    } catch (err) {
      if (err instanceof ApplicationFailure && err.type === SbxErrorType.NotFound) return undefined;
      throw err;
    }
  }

  async list(request: ListRequest): Promise<Instance[]> {
    const { fleetId } = parseInput(ListRequest, request, 'list request');
    return this.find([
      { Name: `tag:${FLEET_TAG}`, Values: [fleetId] },
      { Name: 'instance-state-name', Values: LIVE_EC2_STATES },
    ]);
  }

  /** The SDK's InstanceRunning waiter: polls with backoff, fails early if the instance stops or ends. */
  async waitUntilRunning(instanceId: string, options: WaitOptions = {}): Promise<Instance> {
    const id = parseInput(InstanceId, instanceId, 'instanceId');
    const { timeoutMs } = parseInput(WaitOptions, options, 'wait options');
    try {
      await waitUntilInstanceRunning(
        {
          client: this.client,
          maxWaitTime: Math.ceil(timeoutMs / 1000),
          minDelay: 2,
          maxDelay: 15,
          ...(options.signal ? { abortSignal: options.signal } : {}),
        },
        { InstanceIds: [id] },
      );
    } catch (err) {
      // The waiter reports its outcome as the error's name (timeout, abort) or as JSON in its message.
      const { name, message } = err as Error;
      if (name === 'TimeoutError') throw sbxFailure(SbxErrorType.Busy, `instance ${id} was not running after ${timeoutMs} ms`);
      if (message.startsWith('{"state":"FAILURE"')) {
        throw sbxFailure(SbxErrorType.HostLost, `instance ${id} stopped or terminated before it ran`);
      }
      throw err;
    }
    const instance = await this.describe(id);
    if (!instance) throw sbxFailure(SbxErrorType.HostLost, `instance ${id} is gone`);
    return instance;
  }

  destroy(): void {
    this.client.destroy();
  }

  private runInput(fleetId: string, hostId: string, tags: Tag[]): RunInstancesCommandInput {
    const o = this.options;
    const userData = hostUserData({
      hostId,
      fleetId,
      temporalAddress: o.temporalAddress,
      namespace: o.temporalNamespace,
      controlTaskQueue: o.controlTaskQueue,
      extra: o.userDataExtra,
    });
    const profile = o.iamInstanceProfile;
    return {
      MinCount: 1,
      MaxCount: 1,
      ClientToken: launchClientToken(fleetId, hostId),
      InstanceType: o.instanceType as RunInstancesCommandInput['InstanceType'],
      ...(o.imageId ? { ImageId: o.imageId } : {}),
      ...(o.launchTemplate
        ? {
            LaunchTemplate: {
              ...(o.launchTemplate.id ? { LaunchTemplateId: o.launchTemplate.id } : { LaunchTemplateName: o.launchTemplate.name }),
              ...(o.launchTemplate.version ? { Version: o.launchTemplate.version } : {}),
            },
          }
        : {}),
      ...(o.subnetId ? { SubnetId: o.subnetId } : {}),
      ...(o.securityGroupIds?.length ? { SecurityGroupIds: o.securityGroupIds } : {}),
      ...(o.keyName ? { KeyName: o.keyName } : {}),
      ...(profile ? { IamInstanceProfile: profile.startsWith('arn:') ? { Arn: profile } : { Name: profile } } : {}),
      UserData: Buffer.from(userData, 'utf8').toString('base64'),
      // Root volume and device come from the AMI or launch template: no device name is assumed here.
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
      TagSpecifications: (['instance', 'volume'] as const).map((ResourceType) => ({ ResourceType, Tags: tags })),
    };
  }

  private async find(filters: Filter[]): Promise<Instance[]> {
    return this.call('DescribeInstances', async () => {
      const found: Instance[] = [];
      const pages = paginateDescribeInstances({ client: this.client, pageSize: this.options.pageSize }, { Filters: filters });
      for await (const page of pages) {
        for (const instance of page.Reservations?.flatMap((r) => r.Instances ?? []) ?? []) found.push(toInstance(instance));
      }
      return found;
    });
  }

  /** Runs one API call; an error left after the SDK's retries becomes a typed failure. */
  private async call<T>(action: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      const { name, message, $fault } = err as { name: string; message: string; $fault?: 'client' | 'server' };
      throw sbxFailure(ec2ErrorType(name, $fault), `EC2 ${action} failed: ${name}: ${message}`);
    }
  }
}

function toInstance(instance: Ec2Instance, hostId?: string): Instance {
  const tagged = instance.Tags?.find((t) => t.Key === HOST_TAG)?.Value;
  return {
    instanceId: instance.InstanceId!,
    hostId: tagged ?? hostId ?? '',
    state: toInstanceState(instance.State?.Name),
    ...(instance.PrivateIpAddress ? { privateIp: instance.PrivateIpAddress } : {}),
  };
}
