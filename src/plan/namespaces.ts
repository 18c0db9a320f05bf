// Namespaces: which to join by path (user first, mount last, as paths are resolved in the
// current mount namespace), which to make, and the user namespace's id maps.
import { HuskError } from '../errors';
import type { IdMapping, Spec } from '../spec/types';
import { op, type Op } from './ops';

export const CLONE = {
  mount: 0x00020000,
  uts: 0x04000000,
  ipc: 0x08000000,
  user: 0x10000000,
  pid: 0x20000000,
  network: 0x40000000,
  cgroup: 0x02000000,
  time: 0x00000080,
} as const;

export type NsType = keyof typeof CLONE;

const JOIN_ORDER: NsType[] = ['user', 'ipc', 'uts', 'network', 'pid', 'cgroup', 'time', 'mount'];

export interface NamespacePlan {
  join: Op[]; // setns by path, user first
  newFlags: number; // namespaces made with unshare, user excluded
  newUser: boolean;
  has: Set<NsType>; // every namespace type the container does not share with the host
  uidMap: string;
  gidMap: string;
}

export function formatIdMap(maps: IdMapping[] | undefined): string {
  return (maps ?? []).map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}

// The host id that container id `id` maps to, or the id itself without a user namespace.
export function hostId(maps: IdMapping[] | undefined, id: number): number {
  if (!maps?.length) return id;
  for (const m of maps)
    if (id >= m.containerID && id < m.containerID + m.size) return m.hostID + (id - m.containerID);
  return -1;
}

export function planNamespaces(spec: Spec): NamespacePlan {
  const list = spec.linux?.namespaces ?? [];
  const seen = new Set<string>();
  const has = new Set<NsType>();
  let newFlags = 0;
  let newUser = false;
  const byType = new Map<NsType, { path: string; from: string }>();
  list.forEach((ns, i) => {
    const from = `/linux/namespaces/${i}`;
    if (!Object.hasOwn(CLONE, ns.type))
      throw new HuskError(`${from}/type: unknown namespace type "${ns.type}"`);
    if (seen.has(ns.type)) throw new HuskError(`${from}/type: namespace "${ns.type}" is listed twice`);
    seen.add(ns.type);
    const type = ns.type as NsType;
    has.add(type);
    if (ns.path) {
      if (!ns.path.startsWith('/')) throw new HuskError(`${from}/path: "${ns.path}" must be absolute`);
      byType.set(type, { path: ns.path, from });
    } else if (type === 'user') newUser = true;
    else if (type === 'time') throw new HuskError(`${from}/type: a new time namespace is not supported yet`);
    else newFlags |= CLONE[type];
  });
  const join: Op[] = [];
  for (const t of JOIN_ORDER) {
    const j = byType.get(t);
    if (j) join.push(op('SETNS', j.from, { type: t, path: j.path }, { nstype: CLONE[t], path: j.path }));
  }
  const linux = spec.linux ?? {};
  if (newUser) {
    if (!linux.uidMappings?.length)
      throw new HuskError('/linux/uidMappings: a new user namespace needs uid mappings');
    if (!linux.gidMappings?.length)
      throw new HuskError('/linux/gidMappings: a new user namespace needs gid mappings');
  } else if (!has.has('user') && (linux.uidMappings?.length || linux.gidMappings?.length)) {
    throw new HuskError('/linux/uidMappings: id mappings need a user namespace in /linux/namespaces');
  }
  return {
    join,
    newFlags,
    newUser,
    has,
    uidMap: newUser ? formatIdMap(linux.uidMappings) : '',
    gidMap: newUser ? formatIdMap(linux.gidMappings) : '',
  };
}
