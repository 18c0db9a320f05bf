// The host's cgroup hierarchies as the tests read them: found from mountinfo (so v1, hybrid and
// v2 hosts all work), walked to a bounded depth, and torn down (what is inside killed first) only
// where a test names the directory. /sys/fs/cgroup itself is never changed.
import fs from 'node:fs';
import path from 'node:path';
import { killQuietly, mountinfo } from './proc.mjs';

export const CGROUP_ROOT = '/sys/fs/cgroup';

/** The mount points of every cgroup hierarchy (v1 and unified). */
export function cgroupMountpoints() {
  return mountinfo()
    .filter((m) => m.fstype === 'cgroup' || m.fstype === 'cgroup2')
    .map((m) => m.mountpoint);
}

/**
 * Walks every hierarchy's directories, `depth` levels down at most; visit(path, name) says
 * whether to walk into that one too.
 * @param {number} depth
 * @param {(dir: string, name: string) => boolean} visit
 */
function walkCgroups(depth, visit) {
  const walk = (/** @type {string} */ dir, /** @type {number} */ level) => {
    /** @type {fs.Dirent[]} */
    let entries = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // removed meanwhile
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = dir + '/' + e.name;
      if (visit(p, e.name) && level < depth) walk(p, level + 1);
    }
  };
  for (const mp of cgroupMountpoints()) walk(mp, 1);
}

/** Every cgroup directory on this host: each hierarchy, up to `depth` levels down. */
export function cgroupDirsAll(depth = 5) {
  /** @type {string[]} */
  const found = [];
  walkCgroups(depth, (p) => {
    found.push(p);
    return true;
  });
  return found;
}

/** Every directory a cgroup path (e.g. "/husk/x") names on this host, in each hierarchy. */
export function cgroupDirsNamed(/** @type {string} */ cgPath) {
  return cgroupMountpoints()
    .map((mp) => mp + (cgPath.startsWith('/') ? cgPath : '/' + cgPath))
    .filter((d) => fs.existsSync(d));
}

/** Cgroup directories (every hierarchy, up to `depth` levels down) whose name is in `names`. */
export function cgroupDirsWithNames(/** @type {Set<string>} */ names, depth = 5) {
  return cgroupDirsAll(depth).filter((p) => names.has(p.slice(p.lastIndexOf('/') + 1)));
}

/**
 * Cgroup directories (every hierarchy, up to `depth` levels down) whose name contains `marker`,
 * deepest first; a match is not walked into (its children go with it).
 */
export function cgroupDirsMarked(/** @type {string} */ marker, depth = 3) {
  /** @type {string[]} */
  const out = [];
  walkCgroups(depth, (p, name) => {
    if (!name.includes(marker)) return true;
    out.push(p);
    return false;
  });
  return out.sort((a, b) => b.length - a.length);
}

/** A cgroup directory's path inside its hierarchy ("/husk/x" for /sys/fs/cgroup/cpu/husk/x). */
export function cgroupRelPath(/** @type {string} */ dir) {
  const mps = cgroupMountpoints()
    .filter((mp) => dir === mp || dir.startsWith(mp + '/'))
    .sort((a, b) => b.length - a.length);
  return mps.length ? dir.slice(mps[0].length) || '/' : dir;
}

/** Cgroup directories at or below cgroup path `rel` (e.g. "/husk-cri-1/podX"), every hierarchy. */
export function cgroupDirsUnder(/** @type {string} */ rel, depth = 7) {
  return cgroupDirsAll(depth).filter((d) => {
    const p = cgroupRelPath(d);
    return p === rel || p.startsWith(rel + '/');
  });
}

/** Cgroup directories below husk's default parent ("husk/") whose name contains `fragment`. */
export function huskCgroupsWith(/** @type {string} */ fragment) {
  /** @type {string[]} */
  const out = [];
  for (const mp of cgroupMountpoints()) {
    let names = [];
    try {
      names = fs.readdirSync(path.join(mp, 'husk'));
    } catch {
      continue;
    }
    for (const n of names) if (n.includes(fragment)) out.push(path.join(mp, 'husk', n));
  }
  return out;
}

/** The pids in a cgroup directory's cgroup.procs ([] when it is gone). */
export function cgroupProcs(/** @type {string} */ dir) {
  try {
    return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const pause = (/** @type {number} */ ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Removes a cgroup directory and its children, SIGKILLing what is in them first; a busy cgroup
 * (the kernel frees it a moment after its last task) is tried again. → true when it is gone.
 * @param {string} dir
 * @returns {boolean}
 */
export function removeCgroupTree(dir) {
  /** @type {fs.Dirent[]} */
  let subs = [];
  try {
    subs = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return !fs.existsSync(dir);
  }
  let ok = true;
  for (const sub of subs) if (sub.isDirectory()) ok = removeCgroupTree(path.join(dir, sub.name)) && ok;
  for (let i = 0; i < 100; i++) {
    for (const p of cgroupProcs(dir)) killQuietly(p);
    try {
      fs.rmdirSync(dir);
      return ok;
    } catch (err) {
      if (/** @type {NodeJS.ErrnoException} */ (err).code === 'ENOENT') return ok;
    }
    pause(10);
  }
  return false;
}
