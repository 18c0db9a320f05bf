import type { Options } from 'yargs';
import type { Verb } from './verb';

export interface CreateArgs {
  id: string;
  bundle: string;
  'pid-file'?: string;
  'console-socket'?: string;
  'no-pivot': boolean;
  'preserve-fds': number;
  'no-new-keyring': boolean;
}

export const CREATE_OPTIONS: Record<string, Options> = {
  bundle: { alias: 'b', type: 'string', default: '.', describe: 'path to the bundle directory' },
  'pid-file': { type: 'string', describe: 'file to write the init pid to' },
  'console-socket': { type: 'string', describe: 'unix socket to send the pty master to' },
  'no-pivot': { type: 'boolean', default: false, describe: 'move the rootfs instead of pivot_root' },
  'no-new-keyring': { type: 'boolean', default: false, describe: "keep the caller's session keyring" },
  'preserve-fds': { type: 'number', default: 0, describe: 'pass N extra fds (from 3) to the container' },
};

export function createOptionsOf(a: CreateArgs) {
  return {
    bundle: a.bundle,
    pidFile: a['pid-file'],
    consoleSocket: a['console-socket'],
    noPivot: a['no-pivot'],
    preserveFds: a['preserve-fds'],
    noNewKeyring: a['no-new-keyring'],
  };
}

export const createVerb: Verb<CreateArgs> = {
  name: 'create',
  describe: 'create a container (its process waits for start)',
  positionals: [{ name: 'id', describe: 'container id', required: true }],
  options: CREATE_OPTIONS,
  handler: async (a, ctx) => {
    // Loaded by the verbs that use it: a call pays only for the modules its verb needs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { create } = require('../runtime/create') as typeof import('../runtime/create');
    await create(ctx, a.id, createOptionsOf(a));
  },
};
