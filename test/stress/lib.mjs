// Shared helpers for husk's stress suites (soak, concurrency, crash, fuzz): an async husk runner
// whose output goes to files (a container that outlives husk keeps pipes open), a bounded pool,
// checks of husk's error output, and host snapshots (mounts, cgroups, processes, memory).
//
// QUICK mode is the default; HUSK_STRESS=full runs the sizes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  HUSK,
  REPO,
  allPids,
  cgroupDirsNamed,
  entriesOf,
  huskCgroupsWith,
  mountinfoLines,
  processesMentioning,
  readProc,
  readlinkOrNull,
  runAsync,
  show,
  statOf,
} from '../lib/core.mjs';

export { allPids, entriesOf, huskCgroupsWith, mountinfoLines, processesMentioning, readProc, statOf };

export const FULL = process.env.HUSK_STRESS === 'full';
export const MODE = FULL ? 'full' : 'quick';

// ---------------------------------------------------------------------------------------------
// Running husk asynchronously

/**
 * Runs husk without blocking the event loop: huskP(args, { root, marker, env, cwd, timeout }) →
 * Promise<{ code, signal, stdout, stderr, timedOut, ms }>. stdout and stderr go to unlinked files.
 * @param {string[]} args
 * @param {{ root?: string, marker?: string, env?: Record<string, string>, cwd?: string,
 *   timeout?: number }} [opts]
 */
export function huskP(args, opts = {}) {
  return runAsync(HUSK, [...(opts.root ? ['--root', opts.root] : []), ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...(opts.marker ? { HUSK_TEST_MARKER: opts.marker } : {}), ...(opts.env ?? {}) },
    timeout: opts.timeout,
    ioPrefix: '/tmp/husk-test-stress-io-',
  });
}

/**
 * Runs fn(item, index) over items with at most `limit` at once; resolves to the results.
 * @template I, O
 * @param {I[]} items
 * @param {number} limit
 * @param {(item: I, index: number) => Promise<O>} fn
 * @returns {Promise<O[]>}
 */
export async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

// ---------------------------------------------------------------------------------------------
// husk's output

const STACK = [
  /^\s+at .+/m, // a stack frame
  /\b(TypeError|ReferenceError|RangeError|SyntaxError|EvalError|URIError|AggregateError)\b/,
  /^(Uncaught )?Error: .*\n\s+at /m,
  /node:internal\//,
  /\b(Segmentation fault|Aborted|core dumped|terminate called|Assertion .* failed)\b/,
  /FATAL ERROR|JavaScript heap out of memory|Native stack trace/,
];

/** Why husk's output is not clean (a stack trace, a native fault), or null. */
export function faultIn(/** @type {import('../lib/core/run.mjs').Result} */ r) {
  if (r.signal) return `husk died of ${r.signal}`;
  if (r.timedOut) return 'husk timed out';
  for (const re of STACK) if (re.test(r.stderr) || re.test(r.stdout)) return `stack trace or fault (${re})`;
  return null;
}

const WARNING = /^time="[^"]*" level=(warning|info|debug) msg=/;

/** The error lines (`husk: ...`) on stderr, and any line that is neither that nor a log line. */
export function stderrLines(/** @type {import('../lib/core/run.mjs').Result} */ r) {
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  return {
    errors: lines.filter((l) => l.startsWith('husk: ')),
    warnings: lines.filter((l) => WARNING.test(l)),
    other: lines.filter((l) => !l.startsWith('husk: ') && !WARNING.test(l)),
  };
}

/**
 * Why a husk result is not a clean success or a clean failure (exit 1, exactly one `husk: ` line,
 * nothing else but log lines), or null.
 */
export function uncleanIn(/** @type {import('../lib/core/run.mjs').Result} */ r) {
  const fault = faultIn(r);
  if (fault) return fault;
  if (r.code === 0) return null;
  const l = stderrLines(r);
  if (r.code !== 1) return `exit ${r.code}`;
  if (l.errors.length !== 1) return `${l.errors.length} "husk: " lines on stderr`;
  if (l.other.length) return `unexpected stderr lines: ${l.other.slice(0, 3).join(' | ')}`;
  return null;
}

/** The `husk: ...` message of a failed result, without the prefix (or the whole stderr). */
export function errorOf(/** @type {import('../lib/core/run.mjs').Result} */ r) {
  const l = stderrLines(r);
  return (l.errors[0] ?? r.stderr.trim()).replace(/^husk: /, '');
}

export function assertOk(/** @type {import('../lib/core/run.mjs').Result} */ r, /** @type {string} */ what) {
  assert.equal(r.code, 0, `${what}: ${show(r)}`);
}

// ---------------------------------------------------------------------------------------------
// The host

// USER_HZ is 100 on every Linux this runs on.
export function ticksNow() {
  return Math.floor(Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 100);
}

/** Live processes whose /proc/<pid>/cgroup names `fragment` (e.g. `husk/<id>`). */
export function processesInCgroup(/** @type {string} */ fragment) {
  return allPids().filter((p) => {
    const cg = readProc(p, 'cgroup');
    const st = statOf(p);
    return cg && st && st.state !== 'Z' && cg.includes(fragment);
  });
}

/** husk-init processes (run from their sealed memfd) started at or after `sinceTicks`. */
export function memfdInitsSince(/** @type {number} */ sinceTicks) {
  const out = [];
  for (const pid of allPids()) {
    if (!(readlinkOrNull(`/proc/${pid}/exe`) ?? '').startsWith('/memfd:husk-init')) continue;
    const st = statOf(pid);
    if (st && st.start >= sinceTicks && st.state !== 'Z') out.push({ pid, ...st });
  }
  return out;
}

/** Zombies whose parent is this process. */
export function ownZombies() {
  return allPids().filter((p) => {
    const st = statOf(p);
    return st && st.state === 'Z' && st.ppid === process.pid;
  });
}

/**
 * Lines of `after` that were not in `before` (as a multiset).
 * @param {string[]} before
 * @param {string[]} after
 */
export function newLines(before, after) {
  const count = new Map();
  for (const l of before) count.set(l, (count.get(l) ?? 0) + 1);
  const out = [];
  for (const l of after) {
    const n = count.get(l) ?? 0;
    if (n > 0) count.set(l, n - 1);
    else out.push(l);
  }
  return out;
}

/** Mount points (field 5) of mountinfo lines. */
export const mountPointOf = (/** @type {string} */ line) => line.split(' ')[4];

/** Cgroup directories <hierarchy>/<rel> that exist. */
export function cgroupDirsAt(/** @type {string} */ rel) {
  return cgroupDirsNamed(rel.startsWith('/') ? rel : '/' + rel);
}

/** MemAvailable in bytes. */
export function memAvailable() {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  if (!m) throw new Error('no MemAvailable in /proc/meminfo');
  return Number(m[1]) * 1024;
}

export const MiB = 1024 * 1024;

/**
 * A fixed-width text table for t.diagnostic.
 * @param {unknown[][]} rows
 * @param {string[]} header
 */
export function table(rows, header) {
  const all = [header, ...rows].map((r) => r.map((c) => String(c)));
  const w = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => r.map((c, i) => c.padEnd(w[i])).join('  ')).join('\n');
}

// husk's build outputs: other engineers rebuild husk on this machine while tests run, and a run
// that straddles a rebuild (a half-written husk-init, an addon and an init of different sources)
// fails in ways no test causes.
const BUILD_FILES = ['bin/husk', 'dist/husk.js', 'build/Release/husk-init', 'build/Release/husk_native.node'];

/** The modification times of husk's build outputs, to tell whether husk was rebuilt meanwhile. */
export function buildStamp() {
  return BUILD_FILES.map((f) => {
    try {
      return `${f}@${fs.statSync(path.join(REPO, f)).mtimeMs}`;
    } catch {
      return `${f}@missing`;
    }
  }).join(' ');
}
