// Where the container's cgroups are and what to write in them, per host layout. Pure: the
// runtime creates the directories and does the writes (src/runtime/cgroup.ts).
import path from 'node:path';
import { HuskError } from '../errors';
import type { HostFacts } from '../host/probe';
import type { DeviceRule, Resources, Spec } from '../spec/types';
import { deviceProgram, encodeProgram } from './devices-bpf';

export interface CgroupWrite {
  dir: string;
  file: string;
  value: string;
  from: string;
}

export interface CgroupPlan {
  relPath: string; // the container's path below each hierarchy's root
  dirs: string[]; // every directory the container joins, v1 ones first
  v1: { mountpoint: string; controllers: string[]; dir: string }[];
  unifiedDir: string | null;
  writes: CgroupWrite[];
  // cgroup v2: the device rules as an eBPF program for the container's directory.
  devicesProgram: Buffer | null;
}

export function cgroupRelPath(spec: Spec, id: string): string {
  const p = spec.linux?.cgroupsPath;
  if (!p) return `/husk/${id}`;
  if (/^[^/]*:[^/]*:/.test(p))
    throw new HuskError(
      `/linux/cgroupsPath: "${p}" is a systemd path (slice:prefix:name), which needs --systemd-cgroup`,
    );
  const norm = path.posix.normalize('/' + p);
  if (norm === '/') throw new HuskError(`/linux/cgroupsPath: "${p}" is the root cgroup`);
  return norm;
}

const DEFAULT_DEVICE_RULES: DeviceRule[] = [
  // What every container gets on top of its config, as runc: null, zero, full, tty, random,
  // urandom, the pty master and slaves, and the console.
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
  { allow: true, type: 'c', major: 136, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
];

export function devicesProgramFor(
  rules: DeviceRule[] | undefined,
  extraAllowed: DeviceRule[] = [],
): Buffer | null {
  if (!rules?.length) return null;
  return encodeProgram(deviceProgram([...rules, ...DEFAULT_DEVICE_RULES, ...extraAllowed]));
}

// The nodes linux.devices asks for are usable in the container, as runc allows them.
export function configuredDeviceRules(spec: Spec): DeviceRule[] {
  return (spec.linux?.devices ?? [])
    .filter((d) => d.type !== 'p')
    .map((d) => ({
      allow: true,
      type: d.type === 'u' ? 'c' : d.type,
      major: d.major,
      minor: d.minor,
      access: 'rwm',
    }));
}

function deviceRule(r: DeviceRule): string {
  const num = (n: number | undefined) => (n === undefined || n < 0 ? '*' : String(n));
  return `${r.type ?? 'a'} ${num(r.major)}:${num(r.minor)} ${r.access ?? 'rwm'}`;
}

function controllerDir(plan: CgroupPlan, controller: string): string | null {
  const h = plan.v1.find((x) => x.controllers.includes(controller));
  return h ? h.dir : null;
}

// cpu.shares (2..262144) onto cpu.weight (1..10000), the conversion the spec and runc use.
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return Math.floor(1 + ((shares - 2) * 9999) / 262142);
}

export function resourceWrites(
  plan: CgroupPlan,
  res: Resources | undefined,
  v2: boolean,
  extraAllowed?: DeviceRule[],
): CgroupWrite[] {
  const out: CgroupWrite[] = [];
  if (!res) return out;
  const put = (controller: string, file: string, value: string | number, from: string) => {
    const dir = v2 ? plan.unifiedDir : controllerDir(plan, controller);
    if (!dir)
      throw new HuskError(`${from}: the ${controller} cgroup controller is not available on this host`);
    out.push({ dir, file, value: String(value), from });
  };
  const R = '/linux/resources';
  const m = res.memory;
  if (m) {
    if (m.limit !== undefined)
      put(
        'memory',
        v2 ? 'memory.max' : 'memory.limit_in_bytes',
        m.limit < 0 && v2 ? 'max' : m.limit,
        `${R}/memory/limit`,
      );
    if (m.reservation !== undefined && m.reservation !== 0) {
      const low = m.reservation < 0 && v2 ? 'max' : m.reservation;
      put('memory', v2 ? 'memory.low' : 'memory.soft_limit_in_bytes', low, `${R}/memory/reservation`);
    }
    // swap 0 means "not set", as in runc (v1 also refuses memsw below the memory limit).
    if (m.swap !== undefined && m.swap !== 0) {
      if (v2) {
        const swap =
          m.swap < 0 ? 'max' : m.limit !== undefined && m.limit >= 0 ? Math.max(0, m.swap - m.limit) : m.swap;
        put('memory', 'memory.swap.max', swap, `${R}/memory/swap`);
      } else put('memory', 'memory.memsw.limit_in_bytes', m.swap, `${R}/memory/swap`);
    }
    if (m.swappiness !== undefined && !v2)
      put('memory', 'memory.swappiness', m.swappiness, `${R}/memory/swappiness`);
    if (m.disableOOMKiller && !v2) put('memory', 'memory.oom_control', 1, `${R}/memory/disableOOMKiller`);
  }
  const c = res.cpu;
  if (c) {
    if (c.shares)
      put(
        'cpu',
        v2 ? 'cpu.weight' : 'cpu.shares',
        v2 ? sharesToWeight(c.shares) : c.shares,
        `${R}/cpu/shares`,
      );
    if (v2) {
      // quota 0 means "not set", as on v1 and in runc; the kernel refuses "0 <period>".
      const quota = c.quota === 0 ? undefined : c.quota;
      if (quota !== undefined || c.period) {
        const max = quota === undefined || quota < 0 ? 'max' : quota;
        put('cpu', 'cpu.max', `${max} ${c.period || 100000}`, `${R}/cpu/quota`);
      }
    } else {
      if (c.period) put('cpu', 'cpu.cfs_period_us', c.period, `${R}/cpu/period`);
      if (c.quota !== undefined && c.quota !== 0) put('cpu', 'cpu.cfs_quota_us', c.quota, `${R}/cpu/quota`);
      if (c.realtimePeriod) put('cpu', 'cpu.rt_period_us', c.realtimePeriod, `${R}/cpu/realtimePeriod`);
      if (c.realtimeRuntime) put('cpu', 'cpu.rt_runtime_us', c.realtimeRuntime, `${R}/cpu/realtimeRuntime`);
    }
    if (c.cpus) put('cpuset', 'cpuset.cpus', c.cpus, `${R}/cpu/cpus`);
    if (c.mems) put('cpuset', 'cpuset.mems', c.mems, `${R}/cpu/mems`);
  }
  if (res.pids && res.pids.limit !== undefined)
    put('pids', 'pids.max', res.pids.limit > 0 ? res.pids.limit : 'max', `${R}/pids/limit`);
  // unified: raw cgroup v2 files, written as given, into the container's v2 directory.
  for (const [key, value] of Object.entries(res.unified ?? {})) {
    const from = `${R}/unified/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (!/^[a-z0-9_]+\.[a-z0-9_.]+$/.test(key))
      throw new HuskError(`${from}: "${key}" is not a cgroup v2 file name`);
    if (!plan.unifiedDir) throw new HuskError(`${from}: this host has no cgroup v2 hierarchy`);
    out.push({ dir: plan.unifiedDir, file: key, value, from });
  }
  if (res.devices?.length && !v2) {
    const rules = [...res.devices, ...DEFAULT_DEVICE_RULES, ...(extraAllowed ?? [])];
    rules.forEach((r, i) => {
      const from = i < res.devices!.length ? `${R}/devices/${i}` : `${R}/devices (defaults)`;
      put('devices', r.allow ? 'devices.allow' : 'devices.deny', deviceRule(r), from);
    });
  }
  return out;
}

export function planCgroups(spec: Spec, host: HostFacts, id: string): CgroupPlan | null {
  if (host.cgroupMode === 'none') return null;
  const relPath = cgroupRelPath(spec, id);
  const v1 = host.v1.map((h) => ({ ...h, dir: path.posix.join(h.mountpoint, relPath) }));
  const unifiedDir = host.unified ? path.posix.join(host.unified, relPath) : null;
  const plan: CgroupPlan = {
    relPath,
    dirs: [...v1.map((h) => h.dir), ...(unifiedDir ? [unifiedDir] : [])],
    v1,
    unifiedDir,
    writes: [],
    devicesProgram: null,
  };
  const v2 = host.cgroupMode === 'v2';
  const extra = configuredDeviceRules(spec);
  plan.writes = resourceWrites(plan, spec.linux?.resources, v2, extra);
  plan.devicesProgram = v2 ? devicesProgramFor(spec.linux?.resources?.devices, extra) : null;
  return plan;
}
