// checkpoint and restore: runc's flags, criu driven through its RPC interface (src/criu).
import path = require('node:path');
import type { Options } from 'yargs';
import { HuskError } from '../errors';
import { ID, type Verb } from './verb';

type Args = Record<string, unknown> & { id: string; criu?: string };

const shared: Record<string, Options> = {
  'image-path': { type: 'string', describe: 'directory for the checkpoint images (default ./checkpoint)' },
  'work-path': {
    type: 'string',
    describe: "directory for criu's log and work files (default: the image path)",
  },
  'tcp-established': { type: 'boolean', default: false, describe: 'allow open tcp connections' },
  'ext-unix-sk': { type: 'boolean', default: false, describe: 'allow external unix sockets' },
  'shell-job': { type: 'boolean', default: false, describe: 'allow shell jobs' },
  'file-locks': { type: 'boolean', default: false, describe: 'handle file locks' },
  'lazy-pages': {
    type: 'boolean',
    default: false,
    describe: 'use userfaultfd to restore memory pages lazily',
  },
  'manage-cgroups-mode': { type: 'string', describe: 'cgroups mode: soft (default), full, strict or ignore' },
  'empty-ns': { type: 'string', describe: 'create a namespace, but do not restore its properties (network)' },
  'auto-dedup': {
    type: 'boolean',
    default: false,
    describe: 'deduplicate memory pages in the parent images',
  },
};

function statusFd(v: unknown): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new HuskError(`--status-fd ${String(v)}: not a number`);
  return n;
}

function criuFlags(a: Args) {
  const imagePath = path.resolve((a['image-path'] as string | undefined) || 'checkpoint');
  const empty = a['empty-ns'];
  return {
    criu: a.criu || 'criu',
    imagePath,
    workPath: path.resolve((a['work-path'] as string | undefined) || imagePath),
    tcpEstablished: !!a['tcp-established'],
    extUnixSk: !!a['ext-unix-sk'],
    shellJob: !!a['shell-job'],
    fileLocks: !!a['file-locks'],
    lazyPages: !!a['lazy-pages'],
    manageCgroupsMode: a['manage-cgroups-mode'] as string | undefined,
    emptyNs: empty === undefined ? [] : Array.isArray(empty) ? (empty as string[]) : [String(empty)],
    autoDedup: !!a['auto-dedup'],
    statusFd: statusFd(a['status-fd']),
  };
}

export const checkpointVerb: Verb<Args> = {
  name: 'checkpoint',
  describe: 'checkpoint a running container with criu',
  positionals: [ID],
  repeatable: ['empty-ns'],
  options: {
    ...shared,
    'parent-path': {
      type: 'string',
      describe: 'path of the previous checkpoint (pre-dump), relative to --image-path',
    },
    'leave-running': {
      type: 'boolean',
      default: false,
      describe: 'leave the process running after checkpointing',
    },
    'pre-dump': {
      type: 'boolean',
      default: false,
      describe: "dump the container's memory only, leaving it running",
    },
    'page-server': { type: 'string', describe: 'ADDRESS:PORT of the page server' },
    'status-fd': { type: 'string', describe: 'fd criu writes to when the lazy-pages server is ready' },
  },
  handler: async (a, ctx) => {
    const { checkpoint } = await import('../runtime/checkpoint');
    await checkpoint(ctx, a.id, {
      ...criuFlags(a),
      parentPath: a['parent-path'] as string | undefined,
      leaveRunning: !!a['leave-running'],
      preDump: !!a['pre-dump'],
      pageServer: a['page-server'] as string | undefined,
    });
  },
};

export const restoreVerb: Verb<Args> = {
  name: 'restore',
  describe: 'restore a container from a checkpoint with criu',
  positionals: [ID],
  repeatable: ['empty-ns'],
  options: {
    ...shared,
    bundle: { alias: 'b', type: 'string', default: '.', describe: 'bundle directory (holds config.json)' },
    detach: {
      alias: 'd',
      type: 'boolean',
      default: false,
      describe: 'do not wait for the restored container',
    },
    'pid-file': { type: 'string', describe: "file to write the restored init's pid to" },
    'console-socket': { type: 'string', describe: "unix socket to send the restored terminal's master to" },
    'no-pivot': {
      type: 'boolean',
      default: false,
      describe: 'accepted as runc does (criu sets the root itself)',
    },
    'no-subreaper': { type: 'boolean', default: false, describe: 'accepted as runc does' },
    'lsm-profile': {
      type: 'string',
      describe: 'LSM profile for the restored processes, TYPE:NAME (apparmor:NAME or selinux:LABEL)',
    },
    'lsm-mount-context': { type: 'string', describe: 'SELinux mount context for the restored mounts' },
  },
  handler: async (a, ctx) => {
    const { restore } = await import('../runtime/restore');
    return restore(ctx, a.id, {
      ...criuFlags(a),
      bundle: a.bundle as string,
      detach: !!a.detach,
      pidFile: a['pid-file'] as string | undefined,
      consoleSocket: a['console-socket'] as string | undefined,
      noPivot: !!a['no-pivot'],
      lsmProfile: a['lsm-profile'] as string | undefined,
      lsmMountContext: a['lsm-mount-context'] as string | undefined,
    });
  },
};
