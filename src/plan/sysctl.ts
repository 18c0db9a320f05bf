// linux.sysctl: only keys that belong to a namespace the container has of its own can be set,
// as runc checks; anything else would change the host.
import { HuskError } from '../errors';
import type { NsType } from './namespaces';
import { op, type Op } from './ops';

const IPC_KEYS = new Set([
  'kernel.msgmax',
  'kernel.msgmnb',
  'kernel.msgmni',
  'kernel.sem',
  'kernel.shmall',
  'kernel.shmmax',
  'kernel.shmmni',
  'kernel.shm_rmid_forced',
]);

export function sysctlNamespace(key: string): NsType | null {
  if (IPC_KEYS.has(key) || key.startsWith('fs.mqueue.')) return 'ipc';
  if (key.startsWith('net.')) return 'network';
  if (key === 'kernel.hostname' || key === 'kernel.domainname') return 'uts';
  return null;
}

export function planSysctls(sysctl: Record<string, string> | undefined, has: Set<NsType>): Op[] {
  return Object.entries(sysctl ?? {}).map(([key, value]) => {
    const from = `/linux/sysctl/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (key.includes('/') || key.split('.').includes('..') || key.split('.').some((p) => p === ''))
      throw new HuskError(`${from}: "${key}" is not a sysctl name`);
    const ns = sysctlNamespace(key);
    if (!ns) throw new HuskError(`${from}: "${key}" is not namespaced: setting it would change the host`);
    if (!has.has(ns))
      throw new HuskError(`${from}: "${key}" needs the container to have its own ${ns} namespace`);
    return op('SYSCTL', from, { key, value }, { key, value });
  });
}
