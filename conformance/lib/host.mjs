// Facts read from the host (the runtime namespace) to compare with what a container sees.
import fs from 'node:fs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn() until it returns a truthy value or the timeout passes; returns the last value. */
export async function waitFor(fn, timeout = 5000, every = 20) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v || Date.now() > end) return v;
    await sleep(every);
  }
}

export function pidAlive(pid) {
  if (!pid) return false;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A zombie has exited; it only waits for its parent to reap it.
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The namespace link of a process, e.g. "uts:[4026531838]"; `self` for this process. */
export function nsOf(pid, type) {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${type}`);
  } catch {
    return null;
  }
}

export function cmdlineOf(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return null;
  }
}

/** /proc/<pid>/status (or its text) as a map of field → value string. */
export function parseStatus(text) {
  const m = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) m[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return m;
}

/** Parses mountinfo text into { id, parent, root, mountpoint, options[], optional[], fstype, source, superOptions[] }. */
export function parseMountinfo(text) {
  const mounts = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [left, right = ''] = line.split(' - ');
    const f = left.split(' ');
    const r = right.split(' ');
    mounts.push({
      id: Number(f[0]),
      parent: Number(f[1]),
      root: unescapeMount(f[3]),
      mountpoint: unescapeMount(f[4]),
      options: f[5].split(','),
      optional: f.slice(6),
      fstype: r[0],
      source: r[1],
      superOptions: (r[2] || '').split(','),
    });
  }
  return mounts;
}

function unescapeMount(s) {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/** The last (topmost) mount at a mount point. */
export function mountAt(mounts, mountpoint) {
  const all = mounts.filter((m) => m.mountpoint === mountpoint);
  return all[all.length - 1];
}

/** /proc/<pid>/cgroup as [{ hierarchy, controllers[], path }]. */
export function cgroupsOf(pid) {
  return fs
    .readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [hierarchy, controllers, ...rest] = l.split(':');
      return { hierarchy, controllers: controllers ? controllers.split(',') : [], path: rest.join(':') };
    });
}

/**
 * Where the host keeps `controller`'s files for process `pid`: the v1 hierarchy that has the
 * controller when there is one (hybrid and v1 hosts), else the unified hierarchy.
 * Returns { version: 1 | 2, dir, path } or null.
 */
export function cgroupDirOf(pid, controller) {
  const groups = cgroupsOf(pid);
  const mounts = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  const v1 = groups.find((g) => g.controllers.includes(controller));
  if (v1) {
    const m = mounts.find((x) => x.fstype === 'cgroup' && x.superOptions.includes(controller));
    if (m) return { version: 1, dir: m.mountpoint + relativeTo(m.root, v1.path), path: v1.path };
  }
  const v2 = groups.find((g) => g.hierarchy === '0');
  const m2 = mounts.find((x) => x.fstype === 'cgroup2');
  if (v2 && m2) {
    const ctrls = readOr(`${m2.mountpoint}/cgroup.controllers`, '').split(/\s+/);
    if (ctrls.includes(controller))
      return { version: 2, dir: m2.mountpoint + relativeTo(m2.root, v2.path), path: v2.path };
  }
  return null;
}

function relativeTo(root, p) {
  if (root === '/' || !root) return p === '/' ? '' : p;
  return p.startsWith(root) ? p.slice(root.length) : p;
}

/** Every directory a cgroup path names on this host, in each hierarchy (v1 and unified). */
export function cgroupDirsNamed(cgPath) {
  const mounts = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  return mounts
    .filter((m) => m.fstype === 'cgroup' || m.fstype === 'cgroup2')
    .map((m) => m.mountpoint + cgPath)
    .filter((d) => fs.existsSync(d));
}

/** Every cgroup directory on this host: each hierarchy (v1 and unified), up to `depth` levels down. */
export function cgroupDirsAll(depth = 5) {
  const found = [];
  const walk = (dir, level) => {
    let entries = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // removed meanwhile
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = dir + '/' + e.name;
      found.push(p);
      if (level < depth) walk(p, level + 1);
    }
  };
  const mounts = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  for (const m of mounts) if (m.fstype === 'cgroup' || m.fstype === 'cgroup2') walk(m.mountpoint, 1);
  return found;
}

/** A cgroup directory's path inside its hierarchy ("/husk/x" for /sys/fs/cgroup/cpu/husk/x). */
export function cgroupRelPath(dir) {
  const mounts = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'))
    .filter((m) => m.fstype === 'cgroup' || m.fstype === 'cgroup2')
    .map((m) => m.mountpoint)
    .filter((mp) => dir === mp || dir.startsWith(mp + '/'))
    .sort((a, b) => b.length - a.length);
  return mounts.length ? dir.slice(mounts[0].length) || '/' : dir;
}

/**
 * Cgroup directories (in every hierarchy, up to `depth` levels down) whose name is in `names`:
 * where a runtime's default cgroup for a container id would be.
 */
export function cgroupDirsWithNames(names, depth = 5) {
  return cgroupDirsAll(depth).filter((p) => names.has(p.slice(p.lastIndexOf('/') + 1)));
}

export function readOr(p, dflt = null) {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return dflt;
  }
}

export const CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** Capability names → the set as /proc/<pid>/status prints it (16 hex digits). */
export function capMask(names) {
  let m = 0n;
  for (const n of names) {
    const bit = CAPS.indexOf(n);
    if (bit < 0) throw new Error(`unknown capability ${n}`);
    m |= 1n << BigInt(bit);
  }
  return m.toString(16).padStart(16, '0');
}

/** The capabilities in this process's bounding set: the most a runtime started from here can grant. */
export function heldCaps() {
  const bnd = BigInt('0x' + parseStatus(fs.readFileSync('/proc/self/status', 'utf8')).CapBnd);
  return CAPS.filter((_, bit) => (bnd >> BigInt(bit)) & 1n);
}
