// Facts read from the host (the runtime namespace) to compare with what a container sees.
import fs from 'node:fs';
import {
  alive,
  parseMountinfo,
  parseStatus,
  poll,
  readlinkOrNull,
  readProc,
  TIMEOUT_SCALE,
} from '../../test/lib/core.mjs';

// /proc, mountinfo and cgroup readers are the test suites' shared ones (test/lib/core.mjs: Node
// built-ins only, nothing of husk's).
export { parseStatus, parseMountinfo };
export {
  cgroupDirsAll,
  cgroupDirsNamed,
  cgroupDirsWithNames,
  cgroupRelPath,
  sleep,
} from '../../test/lib/core.mjs';

/**
 * Polls fn() until it returns a truthy value or the timeout passes; returns the last value.
 * @template T
 * @param {() => T | Promise<T>} fn
 */
export async function waitFor(fn, timeout = 5000, every = 20) {
  return (await poll(fn, { timeout: timeout * TIMEOUT_SCALE, every })).value;
}

export const pidAlive = alive;

/** The namespace link of a process, e.g. "uts:[4026531838]"; `self` for this process. */
export function nsOf(/** @type {number|string} */ pid, /** @type {string} */ type) {
  return readlinkOrNull(`/proc/${pid}/ns/${type}`);
}

export function cmdlineOf(/** @type {number|string} */ pid) {
  const text = readProc(pid, 'cmdline');
  return text === null ? null : text.split('\0').filter(Boolean);
}

/**
 * The last (topmost) mount at a mount point.
 * @param {import('../../test/lib/core/proc.mjs').Mount[]} mounts
 * @param {string} mountpoint
 */
export function mountAt(mounts, mountpoint) {
  const all = mounts.filter((m) => m.mountpoint === mountpoint);
  return all[all.length - 1];
}

/** /proc/<pid>/cgroup as [{ hierarchy, controllers[], path }]. */
export function cgroupsOf(/** @type {number|string} */ pid) {
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
 * @param {number|string} pid
 * @param {string} controller
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

function relativeTo(/** @type {string} */ root, /** @type {string} */ p) {
  if (root === '/' || !root) return p === '/' ? '' : p;
  return p.startsWith(root) ? p.slice(root.length) : p;
}

/**
 * A file's text, or `dflt` when it cannot be read.
 * @template {string|null} D
 * @param {string} p
 * @param {D} [dflt]
 * @returns {string | D}
 */
export function readOr(p, dflt = /** @type {D} */ (null)) {
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
export function capMask(/** @type {string[]} */ names) {
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
