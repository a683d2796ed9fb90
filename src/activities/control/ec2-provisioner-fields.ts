import { z } from 'zod';

/**
 * The options without their cross-field rule, for configs that embed them (zod cannot omit from a refined
 * object). Apart from the provisioner so that reading a config does not load the AWS SDK.
 */
export const Ec2ProvisionerFields = z.object({
  region: z.string().min(1),
  endpoint: z.string().url().optional(),
  credentials: z
    .object({ accessKeyId: z.string().min(1), secretAccessKey: z.string().min(1), sessionToken: z.string().optional() })
    .optional(),
  imageId: z
    .string()
    .regex(/^ami-[0-9a-f]+$/, 'imageId must look like ami-0123abcd')
    .optional(),
  launchTemplate: z
    .object({ id: z.string().optional(), name: z.string().optional(), version: z.string().optional() })
    .refine((t) => Boolean(t.id) !== Boolean(t.name), 'launchTemplate needs exactly one of id and name')
    .optional(),
  instanceType: z.string().min(1),
  subnetId: z.string().optional(),
  securityGroupIds: z.array(z.string()).optional(),
  keyName: z.string().optional(),
  temporalAddress: z.string().min(1),
  temporalNamespace: z.string().min(1),
  /** The control workers' task queue, where a host's first heartbeat starts the fleet. */
  controlTaskQueue: z.string().min(1).default('sbx-control'),
  /** An instance profile ARN (`arn:…`) or name. */
  iamInstanceProfile: z.string().optional(),
  userDataExtra: z.string().optional(),
  /** DescribeInstances page size (MaxResults): AWS allows 5 to 1000. */
  pageSize: z.number().int().min(5).max(1000).default(100),
  /** Attempts per API call, first included, before an error reaches the activity. */
  maxAttempts: z.number().int().min(1).max(20).default(8),
});
