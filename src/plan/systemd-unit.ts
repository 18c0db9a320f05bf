// The systemd cgroup driver's side of planning: which unit the container gets, where systemd
// puts its cgroup, and the unit properties that carry its resources. Pure, as the rest of plan/.
import path = require('node:path');
import { HuskError } from '../errors';
import type { Resources, Spec } from '../spec/types';
import { sharesToWeight } from './cpu-weight';
import { annotationProperties } from './systemd-annotations';
import { deviceProperties, type SourcedRule } from './systemd-devices';

export interface SystemdUnit {
  slice: string; // the parent slice, e.g. system.slice
  unit: string; // husk-<id>.scope, or the slice the name asks for
  isSlice: boolean;
}

// One property of StartTransientUnit's a(sv): name, D-Bus type and value. Some need a newer
// systemd than others: those are sent only when the running one is at least minVersion.
export interface UnitProperty {
  name: string;
  type: string;
  value: unknown;
  minVersion?: number;
}

export interface SystemdPlan extends SystemdUnit {
  properties: UnitProperty[]; // all but PIDs, which the runtime adds once the init exists
  warnings: string[]; // what systemd's copy of the settings leaves out
}

const P = '/linux/cgroupsPath';
// systemd's unit name alphabet (unit-name.c: letters, digits, ":-_.\"), at most 255 bytes.
const UNIT_CHARS = /^[A-Za-z0-9:_.\\-]+$/;
export const USEC_INFINITY = 2n ** 64n - 1n;

// "a-b-c.slice" → "/a.slice/a-b.slice/a-b-c.slice", "-.slice" → "/": systemd nests a slice
// under the slice named by its name up to the last dash.
export function expandSlice(slice: string): string {
  const bad = (why: string) => new HuskError(`${P}: invalid slice name "${slice}": ${why}`);
  if (!slice.endsWith('.slice') || slice === '.slice') throw bad('it must end in .slice');
  if (slice.includes('/')) throw bad('it must not contain "/"');
  const stem = slice.slice(0, -'.slice'.length);
  if (stem === '-') return '/';
  let out = '';
  let prefix = '';
  for (const part of stem.split('-')) {
    if (part === '') throw bad('empty component (a leading, trailing or double dash)');
    out += `/${prefix}${part}.slice`;
    prefix += `${part}-`;
  }
  return out;
}

// cgroupsPath "slice:prefix:name" (runc's format); no path means ":husk:<id>". An empty slice
// is the default one: system.slice, or user.slice for a user's own systemd.
export function parseSystemdPath(spec: Spec, id: string, userManager: boolean): SystemdUnit {
  const p = spec.linux?.cgroupsPath;
  let [slice, prefix, name] = ['', 'husk', id];
  if (p) {
    const parts = p.split(':');
    if (parts.length !== 3)
      throw new HuskError(`${P}: "${p}" is not of the form "slice:prefix:name" that --systemd-cgroup needs`);
    [slice, prefix, name] = parts;
  }
  if (!name) throw new HuskError(`${P}: "${p}" has an empty name (slice:prefix:name)`);
  slice ||= userManager ? 'user.slice' : 'system.slice';
  expandSlice(slice);
  const isSlice = name.endsWith('.slice');
  if (isSlice) expandSlice(name);
  // As runc: a name ending in .slice is the unit itself, anything else a scope in the slice.
  const unit = isSlice ? name : `${prefix}-${name}.scope`;
  if (!UNIT_CHARS.test(unit) || Buffer.byteLength(unit) > 255)
    throw new HuskError(
      `${P}: "${unit}" is not a valid systemd unit name (letters, digits, ":-_.\\", at most 255 bytes)`,
    );
  return { slice, unit, isSlice };
}

// The unit's cgroup below every hierarchy's root. `base` is the cgroup of the systemd instance
// (the root for the system one: where PID 1 is, without its init.scope). A slice unit sits
// where its own name puts it; a scope in its slice.
export function systemdRelPath(u: SystemdUnit, base: string): string {
  const rel = u.isSlice ? expandSlice(u.unit) : path.posix.join(expandSlice(u.slice), u.unit);
  return path.posix.join('/', base, rel);
}

// "0-2,7" → the bitmask systemd's AllowedCPUs/AllowedMemoryNodes take: byte n holds 8n..8n+7.
export function rangeToBytes(list: string, from: string): number[] {
  const bytes: number[] = [];
  for (const item of list.split(',')) {
    const t = item.trim();
    if (t === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(t);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
    if (!m || hi < lo || hi > 65535) throw new HuskError(`${from}: "${list}" is not a list of ranges`);
    for (let i = lo; i <= hi; i++) {
      while (bytes.length <= i >> 3) bytes.push(0);
      bytes[i >> 3] |= 1 << (i & 7);
    }
  }
  return bytes;
}

// CPUQuotaPerSecUSec: µs of CPU per wall-clock second. systemd keeps it as a whole percentage,
// so a fraction is rounded up to the next 10 ms, or the quota the cgroup gets would be lower
// than asked.
export function quotaPerSecond(quota: number, period: number): bigint {
  const perSec = BigInt(Math.floor((quota * 1_000_000) / period));
  return perSec % 10000n === 0n ? perSec : (perSec / 10000n + 1n) * 10000n;
}

const t = (name: string, value: number | bigint, minVersion?: number): UnitProperty => ({
  name,
  type: 't',
  value: typeof value === 'bigint' ? value : value < 0 ? USEC_INFINITY : BigInt(value),
  ...(minVersion ? { minVersion } : {}),
});

// The resources systemd itself knows, as properties of the unit, so that its view of the unit
// agrees with the cgroup files husk writes (on a daemon-reload systemd rewrites the files from
// the properties). What systemd has no property for is written only to the files.
export function resourceProperties(res: Resources | undefined, v2: boolean): UnitProperty[] {
  const out: UnitProperty[] = [];
  if (!res) return out;
  const R = '/linux/resources';
  const m = res.memory;
  if (m?.limit) out.push(t(v2 ? 'MemoryMax' : 'MemoryLimit', m.limit));
  if (v2 && m?.reservation) out.push(t('MemoryLow', m.reservation));
  if (v2 && m?.swap) {
    // The spec's swap is memory + swap; systemd's, like cgroup v2's, is swap alone.
    const swap = m.swap < 0 ? -1 : m.limit && m.limit > 0 ? Math.max(0, m.swap - m.limit) : m.swap;
    out.push(t('MemorySwapMax', swap));
  }
  const c = res.cpu;
  if (c?.shares) out.push(v2 ? t('CPUWeight', sharesToWeight(c.shares)) : t('CPUShares', c.shares));
  if (c?.period) out.push(t('CPUQuotaPeriodUSec', c.period, 242));
  if (c?.quota || c?.period) {
    const q = c.quota ?? 0;
    out.push(t('CPUQuotaPerSecUSec', q > 0 ? quotaPerSecond(q, c.period || 100000) : USEC_INFINITY));
  }
  if (c?.cpus)
    out.push({
      name: 'AllowedCPUs',
      type: 'ay',
      value: rangeToBytes(c.cpus, `${R}/cpu/cpus`),
      minVersion: 244,
    });
  if (c?.mems)
    out.push({
      name: 'AllowedMemoryNodes',
      type: 'ay',
      value: rangeToBytes(c.mems, `${R}/cpu/mems`),
      minVersion: 244,
    });
  if (!v2 && res.blockIO?.weight) out.push(t('BlockIOWeight', res.blockIO.weight));
  const pids = res.pids?.limit;
  if (pids !== undefined && (pids > 0 || pids === -1)) out.push(t('TasksMax', pids));
  return out;
}

// What StartTransientUnit gets for the container, as runc sends it: a description, the
// parent slice, delegation of the subtree (a scope only: a slice cannot be delegated), every
// accounting on (so each controller's directory exists), no default dependencies, the
// resources and device rules systemd knows, and last the org.systemd.property.* annotations,
// so that they override any of the same name.
export function planSystemdUnit(
  spec: Spec,
  id: string,
  u: SystemdUnit,
  v2: boolean,
  deviceRules: SourcedRule[] = [],
): SystemdPlan {
  const b = (name: string, value: boolean): UnitProperty => ({ name, type: 'b', value });
  const s = (name: string, value: string): UnitProperty => ({ name, type: 's', value });
  const properties: UnitProperty[] = [s('Description', `husk container ${id}`)];
  if (u.isSlice) properties.push({ name: 'Wants', type: 'as', value: [u.slice] });
  else properties.push(s('Slice', u.slice), b('Delegate', true));
  properties.push(
    b('MemoryAccounting', true),
    b('CPUAccounting', true),
    b(v2 ? 'IOAccounting' : 'BlockIOAccounting', true),
    b('TasksAccounting', true),
    b('DefaultDependencies', false),
    ...resourceProperties(spec.linux?.resources, v2),
  );
  // No rules in the config: the devices cgroup is left as it is, and so is systemd's policy.
  const devices = deviceRules.length ? deviceProperties(deviceRules) : { properties: [], warnings: [] };
  properties.push(...devices.properties, ...annotationProperties(spec.annotations));
  return { ...u, properties, warnings: devices.warnings };
}
