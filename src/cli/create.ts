import { create } from '../runtime/create';
import type { Verb } from './verb';

export interface CreateArgs {
  id: string;
  bundle: string;
  'pid-file'?: string;
  'console-socket'?: string;
  'no-pivot': boolean;
  'preserve-fds': number;
}

export function createOptions(y: import('yargs').Argv) {
  return y
    .positional('id', { type: 'string', describe: 'container id' })
    .option('bundle', { alias: 'b', type: 'string', default: '.', describe: 'path to the bundle directory' })
    .option('pid-file', { type: 'string', describe: 'file to write the init pid to' })
    .option('console-socket', { type: 'string', describe: 'unix socket to send the pty master to' })
    .option('no-pivot', { type: 'boolean', default: false, describe: 'move the rootfs instead of pivot_root' })
    .option('no-new-keyring', { type: 'boolean', default: false, describe: 'keep the caller\'s session keyring' })
    .option('preserve-fds', { type: 'number', default: 0, describe: 'pass N extra fds (from 3) to the container' });
}

export const createVerb: Verb<CreateArgs> = {
  command: 'create <id>',
  describe: 'create a container (its process waits for start)',
  builder: (y) => createOptions(y),
  handler: (a, ctx) => {
    create(ctx, a.id, {
      bundle: a.bundle,
      pidFile: a['pid-file'],
      consoleSocket: a['console-socket'],
      noPivot: a['no-pivot'],
      preserveFds: a['preserve-fds'],
    });
  },
};
