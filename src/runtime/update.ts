// update: new resource limits for a live container. The saved config is the base; the new
// values are merged in, planned like at create and written, and the config is saved again so
// a later update or `events` sees them.
import { HuskError } from '../errors';
import { probeHost } from '../host/probe';
import { planCgroups } from '../plan/cgroups';
import type { Resources } from '../spec/types';
import { resourceProperties } from '../plan/systemd-unit';
import { applyWrites } from './cgroup';
import { setUnitProperties } from './cgroup-systemd';
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
    const { devices: _ignored, ...changes } = resources;
    const merged = merge(spec.linux?.resources ?? {}, changes);
    const host = probeHost();
    const plan = planCgroups(
      { ...spec, linux: { ...spec.linux, resources: changes } },
      host,
      id,
      rec.systemd,
    );
    if (!plan) throw new HuskError('this host has no cgroups: nothing to update');
    // systemd first, as runc: it would otherwise write its older values back on a reload.
    if (rec.systemd) setUnitProperties(rec.systemd, resourceProperties(changes, host.cgroupMode === 'v2'));
    applyWrites(plan.writes);
    spec.linux = { ...spec.linux, resources: merged };
    ctx.store.writeConfig(id, spec);
  } finally {
    lock.release();
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
