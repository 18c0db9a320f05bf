// What planning needs to know about the host, read once per call. The only impure input to the
// planner; unit tests pass hand-made HostFacts (e.g. a pure cgroup v2 layout).
import fs = require('node:fs');
import { detectLsm } from './lsm';

export interface CgroupHierarchy {
  mountpoint: string; // e.g. /sys/fs/cgroup/memory
  controllers: string[]; // e.g. ['memory'] or ['cpu', 'cpuacct'] or ['name=systemd']
}

export interface HostFacts {
  cgroupMode: 'v1' | 'v2' | 'hybrid' | 'none';
  v1: CgroupHierarchy[];
  unified: string | null; // mountpoint of cgroup2, if any
  unifiedControllers?: string[]; // the controllers cgroup2 has (on hybrid hosts, often hugetlb only)
  lastCap: number;
  kcore: boolean;
  euid: number;
  egid: number;
  apparmor: boolean;
  selinux: boolean;
  // husk itself runs in a user namespace whose setgroups is "deny" (`unshare --user
  // --map-root-user`, a rootless engine without subuid ranges): every namespace made below it
  // inherits the denial, so no process of a container can call setgroups.
  setgroupsDenied?: boolean;
}

// A process's cgroup path in one hierarchy, from /proc/<pid>/cgroup ("id:controllers:path"):
// the v1 hierarchy whose controller list is `controllers` ("cpu,cpuacct", "name=systemd"), or
// cgroup2 for "". undefined when the process or the hierarchy is not there.
export function cgroupOf(pid: number | 'self', controllers: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a > 0 && b > a && line.slice(a + 1, b) === controllers) return line.slice(b + 1);
  }
  return undefined;
}

export function parseCgroupMounts(mountinfo: string): Pick<HostFacts, 'cgroupMode' | 'v1' | 'unified'> {
  const v1: CgroupHierarchy[] = [];
  let unified: string | null = null;
  let root: string | null = null;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const mountpoint = left[4].replace(/\\040/g, ' ');
    const fstype = right[0];
    if (fstype === 'cgroup2') {
      unified ??= mountpoint;
      if (mountpoint === '/sys/fs/cgroup') root = 'cgroup2';
    } else if (fstype === 'cgroup') {
      const known = new Set([
        'rw',
        'ro',
        'nosuid',
        'nodev',
        'noexec',
        'relatime',
        'noatime',
        'clone_children',
      ]);
      const controllers = (right[2] ?? '')
        .split(',')
        .filter((o) => !known.has(o) && !o.startsWith('release_agent=') && o !== 'xattr');
      // The first mount of a hierarchy is the host's; a later one with the same controllers is
      // another mount of it (a container rootfs's, seen through shared propagation).
      const key = controllers.join(',');
      if (!v1.some((h) => h.mountpoint === mountpoint || h.controllers.join(',') === key))
        v1.push({ mountpoint, controllers });
    }
  }
  const cgroupMode =
    root === 'cgroup2' ? 'v2' : v1.length && unified ? 'hybrid' : v1.length ? 'v1' : unified ? 'v2' : 'none';
  return { cgroupMode, v1: cgroupMode === 'v2' ? [] : v1, unified };
}

function lastCap(): number {
  try {
    return Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
  } catch {
    return 40;
  }
}

// A small file's content, trimmed; '' when it cannot be read (absent, or gone meanwhile).
export function readTrimmed(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

let cached: HostFacts | undefined;

export function probeHost(): HostFacts {
  if (cached) return cached;
  const mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const mounts = parseCgroupMounts(mountinfo);
  cached = {
    ...mounts,
    lastCap: lastCap(),
    kcore: fs.existsSync('/proc/kcore'),
    euid: process.geteuid?.() ?? 0,
    egid: process.getegid?.() ?? 0,
    unifiedControllers: mounts.unified
      ? readTrimmed(`${mounts.unified}/cgroup.controllers`).split(/\s+/).filter(Boolean)
      : [],
    setgroupsDenied: readTrimmed('/proc/self/setgroups') === 'deny',
    ...detectLsm({ exists: (p) => fs.existsSync(p), read: readTrimmed, mountinfo: () => mountinfo }),
  };
  return cached;
}
