// update: new resource limits for a live container. The saved config is the base; the new
// values are merged in, planned like at create and written, and the config is saved again so
// a later update or `events` sees them.
import fs = require('node:fs');
import path = require('node:path');
import { HuskError } from '../errors';
import { probeHost } from '../host/probe';
import { planCgroups, type CgroupPlan } from '../plan/cgroups';
import type { Resources } from '../spec/types';
import { resourceProperties } from '../plan/systemd-unit';
import { dropUnchanged, orderV1Writes } from '../plan/cgroup-update';
import { applyWritesOrRestore, enableSubtree, setUnitProperties } from './cgroups';
import type { RuntimeContext } from './context';
import { load } from './lifecycle';

function merge(base: Resources, next: Resources): Resources {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(next)) {
    const b = (base as Record<string, unknown>)[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' ? { ...b, ...v } : v;
  }
  return out as Resources;
}

export function update(ctx: RuntimeContext, id: string, resources: Resources): void {
  const lock = ctx.store.lock(id);
  try {
    const { rec, status } = load(ctx, id);
    if (status === 'stopped') throw new HuskError(`container ${id} is stopped: nothing to update`);
    const spec = ctx.store.readConfig(id);
    if (!spec) throw new HuskError(`container ${id}: its saved config is missing or unreadable`);
    // Device rules are not changed by update (runc ignores them too); only the new values.
    // Zeros (engines send them for what is not changed) leave the current values.
    const { devices: _ignored, ...changes } = dropUnchanged(resources);
    const merged = merge(spec.linux?.resources ?? {}, changes);
    const host = probeHost();
    const plan = planCgroups(
      { ...spec, linux: { ...spec.linux, resources: changes } },
      host,
      id,
      rec.systemd,
    );
    if (!plan) throw new HuskError('this host has no cgroups: nothing to update');
    for (const w of plan.warnings) ctx.log.warn(w);
    if (changes.memory?.checkBeforeUpdate) refuseBelowUsage(plan, changes);
    // systemd first, as runc: it would otherwise write its older values back on a reload.
    if (rec.systemd) setUnitProperties(rec.systemd, resourceProperties(changes, host.cgroupMode === 'v2'));
    // Only into the directories the container has: a rootless container may have been left
    // out of hierarchies not delegated to its user (or out of cgroups altogether).
    const own = new Set(rec.cgroupDirs);
    const missing = plan.writes.find((w) => !own.has(w.dir));
    if (missing)
      throw new HuskError(
        `${missing.from}: container ${id} has no cgroup ${missing.dir} (it runs without it), so ${missing.file} cannot be set`,
      );
    const writes = host.cgroupMode === 'v2' ? plan.writes : orderV1Writes(plan.writes, currentV1(plan));
    // A limit of a controller the container was made without (cpu added to a memory-only one)
    // needs it passed down by the root and every parent first, as at create.
    enableSubtree(plan);
    applyWritesOrRestore(writes);
    spec.linux = { ...spec.linux, resources: merged };
    ctx.store.writeConfig(id, spec);
  } finally {
    lock.release();
  }
}

// What decides the order of update's v1 writes (see orderV1Writes).
function currentV1(plan: CgroupPlan) {
  const dir = (ctrl: string) => plan.v1.find((h) => h.controllers.includes(ctrl))?.dir;
  const mem = dir('memory');
  const cpu = dir('cpu');
  return {
    memoryLimit: mem ? readNumber(path.join(mem, 'memory.limit_in_bytes')) : null,
    hasMemsw: !!mem && fs.existsSync(path.join(mem, 'memory.memsw.limit_in_bytes')),
    cfsPeriod: cpu ? readNumber(path.join(cpu, 'cpu.cfs_period_us')) : null,
  };
}

function readNumber(file: string): number | null {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

// memory.checkBeforeUpdate: a limit at or below what the container uses now would have the
// kernel reclaim or OOM-kill at once; refuse it instead (runc does on cgroup v2; here on v1 too,
// with v1's usage files). The memory+swap limit is held against memory and swap together.
function refuseBelowUsage(plan: CgroupPlan, changes: Resources): void {
  const m = changes.memory!;
  const v1 = plan.v1.find((h) => h.controllers.includes('memory'));
  const dir = v1?.dir ?? plan.unifiedDir;
  if (!dir) return;
  const file = v1 ? 'memory.usage_in_bytes' : 'memory.current';
  const usage = readNumber(path.join(dir, file));
  if (usage === null) return; // best effort, as runc: no usage to compare with
  if (m.limit !== undefined && m.limit > 0 && m.limit <= usage)
    throw new HuskError(
      `/memory/limit: ${m.limit} is not above the container's memory usage ${usage} (${path.join(dir, file)}), and checkBeforeUpdate is set`,
    );
  if (m.swap !== undefined && m.swap > 0) {
    const both = v1
      ? readNumber(path.join(dir, 'memory.memsw.usage_in_bytes'))
      : usage + (readNumber(path.join(dir, 'memory.swap.current')) ?? 0);
    if (both !== null && m.swap <= both)
      throw new HuskError(
        `/memory/swap: ${m.swap} is not above the container's memory+swap usage ${both}, and checkBeforeUpdate is set`,
      );
  }
}

// "512m", "1g", "1048576" → bytes, as runc's memory flags take them; -1 stays unlimited.
export function parseBytes(v: string, flag: string): number {
  const m = /^(-?\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$/i.exec(v.trim());
  if (!m) throw new HuskError(`${flag}: "${v}" is not a size`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[
    m[2].toLowerCase()
  ]!;
  return Math.round(Number(m[1]) * mult);
}
