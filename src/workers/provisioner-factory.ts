import { fileURLToPath } from 'node:url';
import type { Provisioner } from '../activities/control/provisioner.js';
import { LocalProvisioner } from '../activities/control/local-provisioner.js';
import { StaticProvisioner } from '../activities/control/static-provisioner.js';
import type { ControlConfig } from './control-config.js';

/** The compiled CLI, so `local` hosts are real `sbx host` processes. */
const cliPath = fileURLToPath(new URL('../cli/main.js', import.meta.url));

/** The EC2 provisioner is imported only when chosen: the AWS SDK costs every other control worker ~50 MB RSS. */
export async function createProvisioner(config: ControlConfig, fleet: NonNullable<ControlConfig['fleet']>): Promise<Provisioner> {
  switch (fleet.provisioner) {
    case 'local':
      return new LocalProvisioner({
        command: [process.execPath, cliPath, 'host'],
        stateDir: fleet.localStateDir,
        temporalAddress: config.temporalAddress,
        namespace: config.namespace,
        terminateGraceMs: fleet.terminateGraceMs,
        env: { SBX_CONTROL_TASK_QUEUE: config.taskQueue },
      });
    case 'static':
      return new StaticProvisioner({ hosts: fleet.staticHosts.map((hostId) => ({ hostId })) });
    case 'ec2': {
      const { Ec2Provisioner } = await import('../activities/control/ec2-provisioner.js');
      return new Ec2Provisioner({
        ...fleet.ec2!,
        temporalAddress: config.temporalAddress,
        temporalNamespace: config.namespace,
        controlTaskQueue: config.taskQueue,
      });
    }
  }
}
