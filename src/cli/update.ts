import fs = require('node:fs');
import { HuskError } from '../errors';
import type * as UpdateModule from '../runtime/update';
import type { Resources } from '../spec/types';
import type { Verb } from './verb';

// Loaded by update alone: a call pays only for the modules its verb needs.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const runtimeUpdate = () => require('../runtime/update') as typeof UpdateModule;

type UpdateArgs = { id: string; resources?: string } & Record<string, string | undefined>;

const num = (v: string | undefined, flag: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new HuskError(`--${flag}: "${v}" is not a whole number`);
  return n;
};

function fromFlags(a: UpdateArgs): Resources {
  const r: Resources = {};
  const mem = (flag: string) =>
    a[flag] === undefined ? undefined : runtimeUpdate().parseBytes(String(a[flag]), `--${flag}`);
  const memory = {
    limit: mem('memory'),
    reservation: mem('memory-reservation'),
    swap: mem('memory-swap'),
    kernel: mem('kernel-memory'),
    kernelTCP: mem('kernel-memory-tcp'),
  };
  if (Object.values(memory).some((v) => v !== undefined)) r.memory = memory;
  const cpu = {
    shares: num(a['cpu-shares'], 'cpu-shares'),
    period: num(a['cpu-period'], 'cpu-period'),
    quota: num(a['cpu-quota'], 'cpu-quota'),
    realtimePeriod: num(a['cpu-rt-period'], 'cpu-rt-period'),
    realtimeRuntime: num(a['cpu-rt-runtime'], 'cpu-rt-runtime'),
    cpus: a['cpuset-cpus'],
    mems: a['cpuset-mems'],
  };
  if (Object.values(cpu).some((v) => v !== undefined)) r.cpu = cpu;
  const pids = num(a['pids-limit'], 'pids-limit');
  if (pids !== undefined) r.pids = { limit: pids };
  const weight = num(a['blkio-weight'], 'blkio-weight');
  if (weight !== undefined) r.blockIO = { weight };
  return r;
}

function strip(o: Resources): Resources {
  return JSON.parse(JSON.stringify(o)) as Resources; // drops the undefined fields
}

const S = { type: 'string' } as const;

export const updateVerb: Verb<UpdateArgs> = {
  name: 'update',
  describe: 'change the resource limits of a running container',
  positionals: [{ name: 'id', describe: 'container id', required: true }],
  options: {
    resources: { alias: 'r', type: 'string', describe: 'JSON file of linux.resources (- for stdin)' },
    memory: { ...S, describe: 'memory limit (bytes, or with k/m/g)' },
    'memory-reservation': { ...S, describe: 'memory soft limit' },
    'memory-swap': { ...S, describe: 'memory + swap limit' },
    'kernel-memory': { ...S, describe: 'kernel memory limit (v1 only)' },
    'kernel-memory-tcp': { ...S, describe: 'kernel TCP memory limit (v1 only)' },
    // runc's name is --cpu-share (engines pass that); --cpu-shares as docker's.
    'cpu-shares': { ...S, alias: 'cpu-share', describe: 'CPU shares' },
    'cpu-period': { ...S, describe: 'CFS period (µs)' },
    'cpu-quota': { ...S, describe: 'CFS quota (µs)' },
    'cpu-rt-period': { ...S, describe: 'realtime period (µs)' },
    'cpu-rt-runtime': { ...S, describe: 'realtime runtime (µs)' },
    'cpuset-cpus': { ...S, describe: 'CPUs to run on' },
    'cpuset-mems': { ...S, describe: 'memory nodes to use' },
    'pids-limit': { ...S, describe: 'maximum number of pids' },
    'blkio-weight': { ...S, describe: 'block IO weight (10-1000)' },
  },
  handler: (a, ctx) => {
    let res: Resources;
    if (a.resources !== undefined) {
      const text = a.resources === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(a.resources, 'utf8');
      try {
        res = JSON.parse(text) as Resources;
      } catch (e) {
        throw new HuskError(`--resources ${a.resources}: not valid JSON: ${(e as Error).message}`);
      }
    } else res = strip(fromFlags(a));
    runtimeUpdate().update(ctx, a.id, res);
  },
};
