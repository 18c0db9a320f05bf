// Reading the host's /proc: processes, their links and status, and mountinfo. Node built-ins only
// (conformance/ runs these against any runtime, without husk's build).
import fs from 'node:fs';

/** /proc/<pid>/<file> as text, or null when it cannot be read (the process is gone, say). */
export function readProc(/** @type {number|string} */ pid, /** @type {string} */ file) {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return null;
  }
}

/** The target of a symlink, or null. */
export function readlinkOrNull(/** @type {string} */ p) {
  try {
    return fs.readlinkSync(p);
  } catch {
    return null;
  }
}

/** Every pid on the host but this process's own. */
export function allPids() {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((p) => p !== process.pid);
}

/**
 * @typedef {{ state: string, ppid: number, start: number }} ProcStat
 * `start` is in clock ticks since boot.
 */

/** { state, ppid, start } of a process from /proc/<pid>/stat, or null. */
export function statOf(/** @type {number} */ pid) {
  const s = readProc(pid, 'stat');
  if (!s) return null;
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return /** @type {ProcStat} */ ({ state: f[0], ppid: Number(f[1]), start: Number(f[19]) });
}

/** Whether `pid` runs (a zombie has exited: it only waits for its parent to reap it). */
export function alive(/** @type {number|null|undefined} */ pid) {
  if (!pid) return false;
  const st = statOf(pid);
  return st !== null && st.state !== 'Z';
}

/** /proc/<pid>/status (or its text) as a map of field → value. */
export function parseStatus(/** @type {string} */ text) {
  /** @type {Record<string, string>} */
  const m = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) m[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return m;
}

/** /proc/<pid>/status of a live process as a map (empty when it is gone). */
export function procStatus(/** @type {number|string} */ pid) {
  return parseStatus(readProc(pid, 'status') ?? '');
}

/** A process's command line joined with spaces ('' when gone). */
export function cmdlineText(/** @type {number} */ pid) {
  return (readProc(pid, 'cmdline') ?? '').replace(/\0/g, ' ').trim();
}

/** Whether path `p` is `dir` or below it. */
export function isAtOrBelow(/** @type {string|null} */ p, /** @type {string} */ dir) {
  return p !== null && (p === dir || p.startsWith(dir + '/'));
}

/**
 * @typedef {{ pid: number, zombie: boolean, ppid: number, exe: string, cmdline: string }} ProcInfo
 */

/**
 * Processes (zombies included, flagged) that mention any of `needles` in their cmdline, environ
 * or cgroup, or whose cwd or root is at or below one of `dirs`: how a test finds what it started
 * without counting what other processes on the host made.
 * @param {string[]} needles
 * @param {string[]} [dirs]
 * @returns {ProcInfo[]}
 */
export function processesMentioning(needles, dirs = []) {
  const out = [];
  const inDirs = (/** @type {string|null} */ p) => dirs.some((d) => isAtOrBelow(p, d));
  for (const pid of allPids()) {
    const cmdline = cmdlineText(pid);
    const environ = readProc(pid, 'environ') ?? '';
    const cgroup = readProc(pid, 'cgroup') ?? '';
    const hit =
      needles.some((n) => cmdline.includes(n) || environ.includes(n) || cgroup.includes(n)) ||
      inDirs(readlinkOrNull(`/proc/${pid}/cwd`)) ||
      inDirs(readlinkOrNull(`/proc/${pid}/root`));
    if (!hit) continue;
    const st = statOf(pid);
    if (!st) continue;
    out.push({
      pid,
      zombie: st.state === 'Z',
      ppid: st.ppid,
      exe: readlinkOrNull(`/proc/${pid}/exe`) ?? '?',
      cmdline,
    });
  }
  return out;
}

/** Pids of every husk-init run from its sealed memfd (a created container's init, or a stuck one). */
export function memfdInitPids() {
  return allPids().filter((p) => (readlinkOrNull(`/proc/${p}/exe`) ?? '').startsWith('/memfd:husk-init'));
}

/**
 * SIGKILLs what `find()` lists until it lists nothing (at most `rounds` rounds, `pauseMs` apart:
 * a dying parent can start a process meanwhile). Resolves to what was still there at the end.
 * @param {() => number[]} find
 */
export async function killUntilGone(find, { rounds = 50, pauseMs = 40 } = {}) {
  for (let i = 0; i < rounds; i++) {
    const pids = find();
    if (!pids.length) return [];
    for (const pid of pids) killQuietly(pid);
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  return find();
}

/** SIGKILL, ignoring a process that is gone already. */
export function killQuietly(/** @type {number} */ pid, /** @type {NodeJS.Signals} */ signal = 'SIGKILL') {
  try {
    process.kill(pid, signal);
  } catch {
    /* gone */
  }
}

// ---------------------------------------------------------------------------------------------
// mountinfo

/**
 * @typedef {{ line: string, id: number, parent: number, root: string, mountpoint: string,
 *   options: string[], optional: string[], fstype: string, source: string,
 *   superOptions: string[] }} Mount
 */

/** Parses mountinfo text (mount points and roots unescaped). */
export function parseMountinfo(/** @type {string} */ text) {
  /** @type {Mount[]} */
  const mounts = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [left, right = ''] = line.split(' - ');
    const f = left.split(' ');
    const r = right.split(' ');
    mounts.push({
      line,
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

function unescapeMount(/** @type {string} */ s) {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/** The mounts `pid` sees ('self': this process's). */
export function mountinfo(/** @type {number|string} */ pid = 'self') {
  return parseMountinfo(readProc(pid, 'mountinfo') ?? '');
}

/** The raw lines of this process's mountinfo. */
export function mountinfoLines() {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
}

/** Host mounts at or below any of `dirs`, deepest first. */
export function mountsUnder(/** @type {string[]} */ dirs) {
  return mountinfo()
    .filter((m) => dirs.some((d) => isAtOrBelow(m.mountpoint, d)))
    .sort((a, b) => b.mountpoint.length - a.mountpoint.length);
}
