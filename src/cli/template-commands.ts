import { Command, Option } from 'commander';
import type { Storage } from '../activities/host/backends.js';
import { TemplateName } from '../common/names.js';
import { parseInput } from '../common/validate.js';
import { importBusyboxTemplate } from '../activities/host/busybox-template.js';
import { createStorage } from '../workers/backend-factory.js';
import { HostConfig } from '../workers/host-config.js';
import { createLogger } from '../workers/logger.js';
import { fail, print, progress } from './output.js';

/** Imports a template from a directory, a tarball, or Debian's static busybox. */
export async function importTemplate(
  storage: Storage,
  name: string,
  source: { dir?: string; tar?: string; busybox?: boolean },
): Promise<void> {
  parseInput(TemplateName, name, 'template name');
  if (source.busybox) {
    await importBusyboxTemplate(storage, name);
  } else if (source.dir) {
    await storage.importTemplate(name, { dir: source.dir });
  } else if (source.tar) {
    await storage.importTemplate(name, { tar: source.tar });
  } else {
    throw new Error('give one of --from-dir, --from-tar or --busybox');
  }
}

export function templateCommands(json: () => boolean): Command {
  const cmd = new Command('template').description('manage sandbox templates on this host');
  cmd
    .command('import <name>')
    .description('make a template (dataset + version snapshot) from a root filesystem')
    .option('--from-dir <dir>', 'a directory holding the root filesystem')
    .option('--from-tar <file>', 'a tarball of the root filesystem')
    .option('--busybox', "a minimal root filesystem around Debian's static busybox")
    .addOption(new Option('--host-id <id>', 'the host whose storage receives it').env('SBX_HOST_ID').default('local'))
    .addOption(new Option('--storage <kind>').choices(['zfs', 'local-disk']).env('SBX_STORAGE').default('zfs'))
    .addOption(new Option('--zfs-root <dataset>').env('SBX_ZFS_ROOT'))
    .addOption(new Option('--data-root <dir>').env('SBX_DATA_ROOT').default('/var/lib/sbx'))
    .addOption(new Option('--zfs-lock <path>', "the host's lock on zfs changes (default <data-root>/zfs.lock)").env('SBX_ZFS_LOCK'))
    .action(async (name: string, o) => {
      try {
        const sources = [o.fromDir, o.fromTar, o.busybox].filter(Boolean).length;
        if (sources !== 1) throw new Error('give exactly one of --from-dir, --from-tar or --busybox');
        const config = parseInput(
          HostConfig,
          { hostId: o.hostId, storage: o.storage, zfsRoot: o.zfsRoot, dataRoot: o.dataRoot, zfsLockPath: o.zfsLock, runtime: 'none' },
          'template options',
        );
        const storage = await createStorage(config, createLogger('sbx-template'), { reserve: false });
        progress(`importing template ${name} into ${storage.kind} storage`);
        await importTemplate(storage, name, { dir: o.fromDir, tar: o.fromTar, busybox: o.busybox });
        print({ json: json() }, { template: name, storage: storage.kind }, () => `template ${name} imported`);
      } catch (err) {
        fail(err, json());
      }
    });
  return cmd;
}
