// Idmapped bind mounts (mounts[].uidMappings/gidMappings, options idmap/ridmap): checked here,
// then made by husk-init's first process while it still has the host's privileges over the
// source (OP_IDMAP_TREE, one detached tree per mount, numbered in mounts[] order) and moved onto
// the destination by the container's init (OP_MOUNT, kind idmapped).
import path = require('node:path');
import { HuskError } from '../errors';
import type { IdMapping, Spec } from '../spec/types';
import { parseMountOptions } from './mountopts';
import { formatIdMap } from './namespaces';
import { op, type Op } from './ops';

// husk-init's table of trees (MAX_IDMAP_TREES) and the kernel's limit on map lines.
const MAX_TREES = 32;
const MAX_MAP_LINES = 340;
const ID_LIMIT = 2 ** 32;

export interface IdmapRequest {
  recursive: number; // 1: clone the mounts below (rbind), 2: map them too (ridmap)
  uidMap: string;
  gidMap: string;
}

function overlaps(maps: IdMapping[], key: 'containerID' | 'hostID'): [number, number] | null {
  const sorted = maps.map((m, i) => ({ m, i })).sort((a, b) => a.m[key] - b.m[key]);
  for (let k = 1; k < sorted.length; k++) {
    const prev = sorted[k - 1].m;
    if (sorted[k].m[key] < prev[key] + prev.size) return [sorted[k - 1].i, sorted[k].i];
  }
  return null;
}

function checkMaps(maps: IdMapping[], where: string): void {
  if (!maps.length) throw new HuskError(`${where}: must not be empty for an idmapped mount`);
  if (maps.length > MAX_MAP_LINES) throw new HuskError(`${where}: more than ${MAX_MAP_LINES} ranges`);
  maps.forEach((m, i) => {
    for (const k of ['containerID', 'hostID', 'size'] as const)
      if (!Number.isInteger(m[k]) || m[k] < 0 || m[k] >= ID_LIMIT)
        throw new HuskError(`${where}/${i}/${k}: must be an integer from 0 to 4294967295`);
    if (m.size === 0) throw new HuskError(`${where}/${i}/size: must be at least 1`);
    if (m.containerID + m.size > ID_LIMIT || m.hostID + m.size > ID_LIMIT)
      throw new HuskError(`${where}/${i}: the range runs past id 4294967295`);
  });
  for (const key of ['containerID', 'hostID'] as const) {
    const o = overlaps(maps, key);
    if (o) throw new HuskError(`${where}/${o[1]}: its ${key} range overlaps ${where}/${o[0]}`);
  }
}

// The idmapping mounts[i] asks for, or null. Mappings on the mount win; idmap/ridmap alone map
// like the container's user namespace, as runc does.
export function idmapOf(spec: Spec, i: number): IdmapRequest | null {
  const m = spec.mounts![i] as NonNullable<Spec['mounts']>[number] & {
    uidMappings?: IdMapping[];
    gidMappings?: IdMapping[];
  };
  const from = `/mounts/${i}`;
  const o = parseMountOptions(m.options);
  const own = m.uidMappings !== undefined || m.gidMappings !== undefined;
  if (!own && !o.idmap) return null;
  // Another type with a bind option (e.g. "cgroup") is planned its own way, without a tree.
  const bindType = m.type === undefined || m.type === '' || m.type === 'bind' || m.type === 'none';
  if (!bindType || !(o.bind || m.type === 'bind'))
    throw new HuskError(`${from}/type: idmapped mounts are supported for bind mounts only (got ${m.type})`);
  let uid = m.uidMappings;
  let gid = m.gidMappings;
  let where = from;
  if (!own) {
    uid = spec.linux?.uidMappings;
    gid = spec.linux?.gidMappings;
    where = '/linux';
    if (!uid?.length || !gid?.length)
      throw new HuskError(
        `${from}/options: "${o.idmap}" without uidMappings and gidMappings on the mount needs the container's (/linux/uidMappings)`,
      );
  }
  if (!uid)
    throw new HuskError(`${from}/uidMappings: an idmapped mount needs both uidMappings and gidMappings`);
  if (!gid)
    throw new HuskError(`${from}/gidMappings: an idmapped mount needs both uidMappings and gidMappings`);
  checkMaps(uid, `${where}/uidMappings`);
  checkMaps(gid, `${where}/gidMappings`);
  return {
    recursive: (o.recursive ? 1 : 0) | (o.idmap === 'ridmap' || (!o.idmap && o.recursive) ? 2 : 0),
    uidMap: formatIdMap(uid),
    gidMap: formatIdMap(gid),
  };
}

export function planIdmapTrees(spec: Spec, bundle: string): Op[] {
  const ops: Op[] = [];
  (spec.mounts ?? []).forEach((m, i) => {
    const req = idmapOf(spec, i);
    if (!req) return;
    const slot = ops.length;
    if (slot >= MAX_TREES) throw new HuskError(`/mounts/${i}: more than ${MAX_TREES} idmapped mounts`);
    const source = path.resolve(bundle, m.source ?? '');
    ops.push(
      op(
        'IDMAP_TREE',
        `/mounts/${i}`,
        { slot, source, ...req },
        { slot, source, recursive: req.recursive, uidMap: req.uidMap, gidMap: req.gidMap },
      ),
    );
  });
  return ops;
}
