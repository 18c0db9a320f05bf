// Where the container's cgroups are and what to write in them, per host layout. Pure: the
// runtime creates the directories and does the writes (src/runtime/cgroups/cgroupfs.ts).
import path = require('node:path');
import { HuskError } from '../errors';
import type { HostFacts } from '../host/probe';
import type { DeviceRule, Resources, Spec, ThrottleDevice } from '../spec/types';
import { sharesToWeight } from './cpu-weight';
import { deviceAccess } from './devices';
import { deviceProgram, encodeProgram } from './devices-bpf';
import type { SourcedRule } from './systemd-devices';
import { parseSystemdPath, planSystemdUnit, systemdRelPath, type SystemdPlan } from './systemd-unit';

export interface CgroupWrite {
  dir: string;
  file: string;
  value: string;
  from: string;
  alt?: string; // written instead when `file` does not exist (blkio.bfq.weight for blkio.weight)
}

export interface CgroupPlan {
  relPath: string; // the container's path below each hierarchy's root
  dirs: string[]; // every directory the container joins, v1 ones first
  v1: { mountpoint: string; controllers: string[]; dir: string }[];
  unifiedDir: string | null;
  unifiedControllers: string[];
  writes: CgroupWrite[];
  // cgroup v2: the controllers the writes need, to be enabled in cgroup.subtree_control of the
  // hierarchy's root and of every directory down to the container's parent, top first.
  enable: SubtreeEnable[];
  // cgroup v2: the device rules as an eBPF program for the container's directory.
  devicesProgram: Buffer | null;
  // --systemd-cgroup: the unit systemd makes for the container before the limits are written.
  systemd?: SystemdPlan;
  warnings: string[]; // settings this host's layout cannot apply and that are skipped, as runc
}

export interface SubtreeEnable {
  dir: string;
  controllers: string[];
}

// The controller a cgroup v2 file belongs to: its name's first part (cpu.weight → cpu), when
// that is a controller the hierarchy has; cgroup.* files are the core's and need none.
function controllerOfFile(file: string, available: readonly string[]): string | null {
  const c = file.slice(0, file.indexOf('.'));
  return c !== 'cgroup' && available.includes(c) ? c : null;
}

/**
 * What the container's v2 writes need enabled above it. After boot the root passes down only
 * some controllers (systemd 252 on Debian: memory and pids), and a child has a controller's
 * files only when every ancestor enables it; systemd may also take one away again later, so
 * husk enables what the config needs on each create, in the root too (as runc and crun do), and
 * never disables any. Only controllers the root has (`available`) are asked for: one it lacks
 * stays a clear "this host has no <file>" at the write.
 */
export function subtreeEnables(
  root: string,
  dir: string,
  writes: CgroupWrite[],
  available: readonly string[],
): SubtreeEnable[] {
  const controllers = [
    ...new Set(writes.filter((w) => w.dir === dir).flatMap((w) => controllerOfFile(w.file, available) ?? [])),
  ].sort((a, b) => available.indexOf(a) - available.indexOf(b));
  if (!controllers.length || dir === root || !dir.startsWith(root + '/')) return [];
  const out: SubtreeEnable[] = [];
  for (let p = path.posix.dirname(dir); ; p = path.posix.dirname(p)) {
    out.unshift({ dir: p, controllers });
    if (p === root || p.length <= root.length) break;
  }
  return out;
}

// The systemd driver: where the systemd instance's own cgroup is (the runtime asks), and
// whether it is a user's instance (whose default slice is user.slice).
export interface SystemdDriver {
  base: string;
  userManager: boolean;
}

export function cgroupRelPath(spec: Spec, id: string): string {
  const p = spec.linux?.cgroupsPath;
  if (!p) return `/husk/${id}`;
  if (/^[^/]*:[^/]*:/.test(p))
    throw new HuskError(
      `/linux/cgroupsPath: "${p}" is a systemd path (slice:prefix:name), which needs --systemd-cgroup`,
    );
  // Every hierarchy's mountpoint goes in front, and the whole must stay a usable path.
  if (p.length > 2048 || p.split('/').length > 128)
    throw new HuskError(
      `/linux/cgroupsPath: longer or deeper than a cgroup path can be (${p.length} characters)`,
    );
  const norm = path.posix.normalize('/' + p);
  if (norm === '/') throw new HuskError(`/linux/cgroupsPath: "${p}" is the root cgroup`);
  return norm;
}

// runc 1.1.5's AllowedDevices, in its order: appended to every config's rules, so a container
// may mknod any node (what it can then open is still up to the rules) and use the default
// nodes, the ptys and /dev/net/tun. A default with a path is dropped when linux.devices gives
// that path, as runc does (the config's node takes its place, and its access is the config's).
const DEFAULT_DEVICE_RULES: (DeviceRule & { path?: string })[] = [
  { allow: true, type: 'c', major: -1, minor: -1, access: 'm' },
  { allow: true, type: 'b', major: -1, minor: -1, access: 'm' },
  { path: '/dev/null', allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { path: '/dev/random', allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
  { path: '/dev/full', allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },
  { path: '/dev/tty', allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
  { path: '/dev/zero', allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  { path: '/dev/urandom', allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
  { allow: true, type: 'c', major: 136, access: 'rwm' }, // /dev/pts/*
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, // /dev/net/tun
];

// The default rules for this config. The nodes linux.devices makes get no rule of their own:
// only linux.resources.devices (and these defaults) decide what the container may open.
export function defaultDeviceRules(spec: Spec): DeviceRule[] {
  const given = new Set((spec.linux?.devices ?? []).map((d) => d.path));
  return DEFAULT_DEVICE_RULES.filter((r) => !r.path || !given.has(r.path)).map(
    ({ path: _p, ...rule }) => rule,
  );
}

export function devicesProgramFor(rules: DeviceRule[] | undefined, defaults: DeviceRule[]): Buffer | null {
  if (!rules?.length) return null;
  return encodeProgram(deviceProgram(containerDeviceRules(rules, defaults).map((r) => r.rule)));
}

function deviceRule(r: DeviceRule): string {
  const num = (n: number | undefined) => (n === undefined || n < 0 ? '*' : String(n));
  return `${r.type ?? 'a'} ${num(r.major)}:${num(r.minor)} ${deviceAccess(r.access)}`;
}

function controllerDir(plan: CgroupPlan, controller: string): string | null {
  const h = plan.v1.find((x) => x.controllers.includes(controller));
  return h ? h.dir : null;
}

export { sharesToWeight };

// blkio (v1) and io (v2): weights and per-device throttles. Weight 0 means "not set".
function blockIOWrites(
  res: Resources,
  v2: boolean,
  put: (controller: string, file: string, value: string | number, from: string) => void,
  out: CgroupWrite[],
): void {
  const b = res.blockIO;
  const W = '/linux/resources/blockIO';
  if (!b) return;
  // blkio weights are 10..1000, io.weight 1..10000 (the spec's conversion, as runc).
  const v2Weight = (w: number) => Math.floor(1 + ((w - 10) * 9999) / 990);
  if (b.weight) {
    put(
      'blkio',
      v2 ? 'io.weight' : 'blkio.weight',
      v2 ? `default ${v2Weight(b.weight)}` : b.weight,
      `${W}/weight`,
    );
    // Kernels without CFQ have only BFQ's weight file, which takes the v1 scale; runc does the same.
    out.at(-1)!.alt = v2 ? 'io.bfq.weight' : 'blkio.bfq.weight';
  }
  if (b.leafWeight) {
    if (v2) throw new HuskError(`${W}/leafWeight: cgroup v2 has no leaf weight`);
    put('blkio', 'blkio.leaf_weight', b.leafWeight, `${W}/leafWeight`);
  }
  for (const [i, d] of (b.weightDevice ?? []).entries()) {
    if (d.weight)
      put(
        'blkio',
        v2 ? 'io.weight' : 'blkio.weight_device',
        `${d.major}:${d.minor} ${v2 ? v2Weight(d.weight) : d.weight}`,
        `${W}/weightDevice/${i}`,
      );
    if (d.leafWeight && !v2)
      put(
        'blkio',
        'blkio.leaf_weight_device',
        `${d.major}:${d.minor} ${d.leafWeight}`,
        `${W}/weightDevice/${i}`,
      );
  }
  const throttles: [keyof NonNullable<Resources['blockIO']>, string, string][] = [
    ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device', 'rbps'],
    ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device', 'wbps'],
    ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device', 'riops'],
    ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device', 'wiops'],
  ];
  for (const [key, v1file, v2key] of throttles) {
    for (const [i, d] of ((b[key] as ThrottleDevice[] | undefined) ?? []).entries())
      put(
        'blkio',
        v2 ? 'io.max' : v1file,
        v2 ? `${d.major}:${d.minor} ${v2key}=${d.rate}` : `${d.major}:${d.minor} ${d.rate}`,
        `${W}/${key}/${i}`,
      );
  }
}

export function resourceWrites(
  plan: CgroupPlan,
  res: Resources | undefined,
  v2: boolean,
  defaults: DeviceRule[] = [],
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
  if (m) {
    // Kernel memory limits exist on v1 only (and only on kernels that still have them);
    // cgroup v2 has none, and runc ignores them there too.
    if (m.kernel && !v2) put('memory', 'memory.kmem.limit_in_bytes', m.kernel, `${R}/memory/kernel`);
    if (m.kernelTCP && !v2)
      put('memory', 'memory.kmem.tcp.limit_in_bytes', m.kernelTCP, `${R}/memory/kernelTCP`);
    if (m.useHierarchy !== undefined && !v2)
      put('memory', 'memory.use_hierarchy', m.useHierarchy ? 1 : 0, `${R}/memory/useHierarchy`);
  }
  if (c?.burst !== undefined)
    put('cpu', v2 ? 'cpu.max.burst' : 'cpu.cfs_burst_us', c.burst, `${R}/cpu/burst`);
  if (c?.idle !== undefined) put('cpu', 'cpu.idle', c.idle, `${R}/cpu/idle`);
  blockIOWrites(res, v2, put, out);
  // A hybrid host may keep hugetlb in its cgroup2 hierarchy only (this kind of machine does).
  const hugeV2 = v2 || (!controllerDir(plan, 'hugetlb') && plan.unifiedControllers.includes('hugetlb'));
  for (const [i, h] of (res.hugepageLimits ?? []).entries()) {
    const from = `${R}/hugepageLimits/${i}`;
    if (hugeV2 && plan.unifiedDir)
      out.push({ dir: plan.unifiedDir, file: `hugetlb.${h.pageSize}.max`, value: String(h.limit), from });
    else put('hugetlb', `hugetlb.${h.pageSize}.limit_in_bytes`, h.limit, from);
  }
  if (res.network?.classID !== undefined) {
    if (v2) throw new HuskError(`${R}/network/classID: cgroup v2 has no net_cls controller`);
    put('net_cls', 'net_cls.classid', res.network.classID, `${R}/network/classID`);
  }
  for (const [i, p] of (res.network?.priorities ?? []).entries()) {
    if (v2) throw new HuskError(`${R}/network/priorities: cgroup v2 has no net_prio controller`);
    put('net_prio', 'net_prio.ifpriomap', `${p.name} ${p.priority}`, `${R}/network/priorities/${i}`);
  }
  for (const [dev, l] of Object.entries(res.rdma ?? {})) {
    const parts = [
      l.hcaHandles !== undefined ? `hca_handle=${l.hcaHandles}` : '',
      l.hcaObjects !== undefined ? `hca_object=${l.hcaObjects}` : '',
    ];
    put('rdma', 'rdma.max', `${dev} ${parts.filter(Boolean).join(' ')}`, `${R}/rdma/${dev}`);
  }
  // unified: raw cgroup v2 files, written as given, into the container's v2 directory.
  for (const [key, value] of Object.entries(res.unified ?? {})) {
    const from = `${R}/unified/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (!/^[a-z0-9_]+\.[a-z0-9_.]+$/.test(key))
      throw new HuskError(`${from}: "${key}" is not a cgroup v2 file name`);
    if (!plan.unifiedDir) throw new HuskError(`${from}: this host has no cgroup v2 hierarchy`);
    out.push({ dir: plan.unifiedDir, file: key, value, from });
  }
  if (!v2)
    for (const { rule, from } of containerDeviceRules(res.devices, defaults))
      put('devices', rule.allow ? 'devices.allow' : 'devices.deny', deviceRule(rule), from);
  return out;
}

// The device rules the container's cgroup gets, in the order they apply: the config's, then
// runc's defaults. runc starts from an empty allow list (deny-all), whatever the config's first
// rule; v1's files start from the parent's list instead, so a deny-all goes first unless the
// config begins with an "a" rule of its own. None when the config gives no rules: husk then
// leaves the devices cgroup as it finds it (and update, which never changes devices, relies on it).
export function containerDeviceRules(
  devices: DeviceRule[] | undefined,
  defaults: DeviceRule[],
): SourcedRule[] {
  if (!devices?.length) return [];
  const R = '/linux/resources/devices';
  const given: SourcedRule[] = [];
  devices.forEach((rule, i) => {
    const from = `${R}/${i}`;
    if (rule.access !== undefined && deviceAccess(rule.access) === '') {
      // runc refuses these too: an empty string, or an allow rule that grants nothing.
      if (rule.access === '' || rule.allow)
        throw new HuskError(`${from}/access: "${rule.access}" names none of r, w, m`);
      return; // a deny of nothing
    }
    given.push({ rule: { ...rule, access: deviceAccess(rule.access) }, from });
  });
  const first = devices[0].type ?? 'a';
  return [
    ...(first === 'a' ? [] : [{ rule: { allow: false, access: 'rwm' }, from: `${R} (defaults)` }]),
    ...given,
    ...defaults.map((rule) => ({ rule, from: `${R} (defaults)` })),
  ];
}

export function planCgroups(
  spec: Spec,
  host: HostFacts,
  id: string,
  systemd?: SystemdDriver,
): CgroupPlan | null {
  if (host.cgroupMode === 'none') {
    if (systemd) throw new HuskError('--systemd-cgroup: this host has no cgroups');
    return null;
  }
  const unit = systemd ? parseSystemdPath(spec, id, systemd.userManager) : null;
  const relPath = unit ? systemdRelPath(unit, systemd!.base) : cgroupRelPath(spec, id);
  const v1 = host.v1.map((h) => ({ ...h, dir: path.posix.join(h.mountpoint, relPath) }));
  const unifiedDir = host.unified ? path.posix.join(host.unified, relPath) : null;
  const plan: CgroupPlan = {
    relPath,
    dirs: [...v1.map((h) => h.dir), ...(unifiedDir ? [unifiedDir] : [])],
    v1,
    unifiedDir,
    unifiedControllers: host.unifiedControllers ?? [],
    writes: [],
    enable: [],
    devicesProgram: null,
    warnings: [],
  };
  const v2 = host.cgroupMode === 'v2';
  const defaults = defaultDeviceRules(spec);
  plan.writes = resourceWrites(plan, spec.linux?.resources, v2, defaults);
  // systemd enables the controllers of the units it makes itself (and would undo ours).
  if (unifiedDir && !unit)
    plan.enable = subtreeEnables(host.unified!, unifiedDir, plan.writes, plan.unifiedControllers);
  const cpu = spec.linux?.resources?.cpu;
  // cgroup v2 has no realtime bandwidth files; runc skips these there without a word, crun
  // refuses them. Skipped, as runc (engines pass them through), but said.
  if (v2 && (cpu?.realtimeRuntime || cpu?.realtimePeriod))
    plan.warnings.push(
      '/linux/resources/cpu/realtimeRuntime: cgroup v2 has no realtime CPU bandwidth; realtimeRuntime and realtimePeriod are ignored',
    );
  plan.devicesProgram = v2 ? devicesProgramFor(spec.linux?.resources?.devices, defaults) : null;
  // runc treats a hybrid host as v1 for systemd too: v1 properties, v1 controllers.
  if (unit) {
    const devices = containerDeviceRules(spec.linux?.resources?.devices, defaults);
    plan.systemd = planSystemdUnit(spec, id, unit, v2, devices);
    plan.warnings.push(...plan.systemd.warnings);
  }
  return plan;
}
