// Helpers for the engine tests: run commands with timeouts, the logging runtime wrappers, the
// call log parser, private containerd/dockerd daemons, and host cleanup (mounts, cgroups,
// processes, paths the engines create outside their configured directories).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  CGROUP_ROOT,
  removeCgroupTree,
  allPids,
  cgroupDirsAll,
  fileSize,
  mountsUnder as mountsBelow,
  poll,
  readProc,
  runAsync,
  tail,
  unmountUnder as unmountBelow,
} from '../lib/core.mjs';

export { tail };

// ---------------------------------------------------------------------------------------------
// Commands

/**
 * @typedef {import('../lib/core/run.mjs').Result & { timedOut: boolean, cmd: string }} CmdResult
 */

/**
 * Runs a command without a shell: run(cmd, args, { timeout, input, env, cwd }) →
 * Promise<{ code, signal, stdout, stderr, timedOut, cmd }>. stdin is /dev/null unless `input`
 * is given. A command still running after `timeout` ms is killed with SIGKILL. Output is read
 * from pipes, to their end (the engines' clients hand over their output that way).
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ timeout?: number, input?: string, env?: NodeJS.ProcessEnv, cwd?: string }} [opts]
 * @returns {Promise<CmdResult>}
 */
export async function run(cmd, args, opts = {}) {
  const r = await runAsync(cmd, args, { ...opts, timeout: opts.timeout ?? 20_000, pipes: true });
  return {
    code: r.code,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    timedOut: r.timedOut,
    cmd: [cmd, ...args].join(' '),
  };
}

/** A one-paragraph description of a command's result, for assertion messages. */
export function describeResult(/** @type {CmdResult} */ r) {
  const parts = [
    `$ ${r.cmd}`,
    `exit ${r.code}${r.signal ? ` (signal ${r.signal})` : ''}${r.timedOut ? ' TIMED OUT' : ''}`,
  ];
  if (r.stdout.trim()) parts.push(`stdout: ${r.stdout.trim().slice(-2000)}`);
  if (r.stderr.trim()) parts.push(`stderr: ${r.stderr.trim().slice(-2000)}`);
  return parts.join('\n');
}

/**
 * Polls `fn` (async, truthy when done) every `every` ms until `timeout` ms have passed; a throw
 * counts as not done yet (its message is in the timeout error).
 * @template T
 * @param {() => T | Promise<T>} fn
 * @param {{ timeout?: number, every?: number, what?: string }} [opts]
 * @returns {Promise<NonNullable<T>>}
 */
export async function waitFor(fn, { timeout = 15_000, every = 100, what = 'condition' } = {}) {
  const { value, error } = await poll(fn, { timeout, every, catchErrors: true });
  if (!value)
    throw new Error(`timed out waiting for ${what}${error instanceof Error ? `: ${error.message}` : ''}`);
  return /** @type {NonNullable<T>} */ (value);
}

// ---------------------------------------------------------------------------------------------
// The logging wrapper: what ENGINES.md was made with. It appends "[pid] cwd=… argv: …" before
// and "[pid] rc=N" after each call (plus the last line of the runtime's --log file when the call
// failed: containerd and docker show only that line) and passes everything else through
// untouched: stdio, fds, environment, cwd. The runtime runs as the wrapper's child so that its
// exit code can be logged.

/**
 * @param {string} file the wrapper to write
 * @param {string} real the runtime it runs
 * @param {string} log the call log
 * @param {Record<string, string>} [env] exported before the runtime runs
 */
export function writeWrapper(file, real, log, env = {}) {
  const q = (/** @type {string} */ s) => `'${s.replaceAll("'", `'\\''`)}'`;
  fs.writeFileSync(
    file,
    `#!/bin/sh
# Logs each runtime call to ${log} and runs ${real}. Written by test/engines.
LOG=${q(log)}
${Object.entries(env)
  .map(([k, v]) => `export ${k}=${q(v)}\n`)
  .join('')}prev= ; rlog=
for a in "$@"; do [ "$prev" = --log ] && rlog=$a; prev=$a; done
printf '[%s] cwd=%s argv: %s\\n' "$$" "$(pwd)" "$*" >>"$LOG"
${q(real)} "$@"
rc=$?
if [ "$rc" -ne 0 ] && [ -n "$rlog" ] && [ -s "$rlog" ]; then
  printf '[%s] log: %s\\n' "$$" "$(tail -n 1 "$rlog")" >>"$LOG"
fi
printf '[%s] rc=%s\\n' "$$" "$rc" >>"$LOG"
exit "$rc"
`,
    { mode: 0o755 },
  );
}

/** The size of a call log (0 before the first call). */
export const logSize = fileSize;

/**
 * @typedef {{ pid: number, cwd: string, argv: string, rc: number|null, log: string|null }} Call
 */

/**
 * The calls logged since byte `from`: [{ pid, cwd, argv, rc (null while running), log }].
 * @param {string} log
 * @param {number} from
 * @returns {Call[]}
 */
export function callsSince(log, from) {
  let text = '';
  try {
    const fd = fs.openSync(log, 'r');
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(Math.max(0, size - from));
    fs.readSync(fd, buf, 0, buf.length, from);
    fs.closeSync(fd);
    text = buf.toString('utf8');
  } catch {
    return [];
  }
  /** @type {Map<number, Call>} */
  const byPid = new Map();
  /** @type {Call[]} */
  const calls = [];
  for (const line of text.split('\n')) {
    const m = /^\[(\d+)\] (cwd=(.*?) argv: (.*)|rc=(\d+)|log: (.*))$/.exec(line);
    if (!m) continue;
    const pid = Number(m[1]);
    const known = byPid.get(pid);
    if (m[3] !== undefined) {
      /** @type {Call} */
      const c = { pid, cwd: m[3], argv: m[4], rc: null, log: null };
      byPid.set(pid, c);
      calls.push(c);
    } else if (known) {
      if (m[5] !== undefined) known.rc = Number(m[5]);
      else known.log = m[6];
    }
  }
  return calls;
}

export function formatCall(/** @type {Call} */ c) {
  return `${c.argv}  (cwd ${c.cwd}) → exit ${c.rc ?? '?'}${c.log ? `; log.json: ${c.log}` : ''}`;
}

/** The runtime verb of a logged call: the first argument that is not a global flag. */
export function verbOf(/** @type {Call} */ c) {
  const a = c.argv.split(' ');
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--root' || a[i] === '--log' || a[i] === '--log-format' || a[i] === '--criu') i++;
    else if (!a[i].startsWith('-')) return a[i];
  }
  return '';
}

// ---------------------------------------------------------------------------------------------
// Daemons

/**
 * @typedef {{ child: import('node:child_process').ChildProcess, pid: number|undefined,
 *   exited: Promise<{ code: number|null, signal: NodeJS.Signals|null }>, logFile: string }} Daemon
 */

/**
 * Starts a daemon whose output goes to `logFile`; returns { child, pid, exited }.
 * @param {string} cmd
 * @param {string[]} args
 * @param {string} logFile
 * @returns {Daemon}
 */
export function startDaemon(cmd, args, logFile) {
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  /** @type {Daemon['exited']} */
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.on('error', () => {});
  return { child, pid: child.pid, exited, logFile };
}

/**
 * SIGTERM, then SIGKILL after `grace` ms; resolves when the daemon has exited.
 * @param {Daemon | null | undefined} d
 */
export async function stopDaemon(d, grace = 15_000) {
  if (!d || d.child.exitCode !== null || d.child.signalCode !== null) return;
  d.child.kill('SIGTERM');
  const child = d.child;
  const t = setTimeout(() => child.kill('SIGKILL'), grace);
  await d.exited;
  clearTimeout(t);
}

// ---------------------------------------------------------------------------------------------
// Host cleanup

/** Processes whose command line mentions `needle` (ours: the needle is a private temp dir). */
export function pidsMentioning(/** @type {string} */ needle) {
  return allPids().filter((p) => (readProc(p, 'cmdline') ?? '').includes(needle));
}

/** Mount points at or under `dir`, deepest first. */
export function mountsUnder(/** @type {string} */ dir) {
  return [...new Set(mountsBelow([dir]).map((m) => m.mountpoint))];
}

export function unmountUnder(/** @type {string} */ dir) {
  unmountBelow([dir]);
}

/** Every cgroup directory (all v1 hierarchies and the unified one), as a Set of paths. */
export function cgroupDirs() {
  return new Set(cgroupDirsAll(7));
}

/**
 * rmdir (deepest first) the cgroup directories that are not in `before` and whose path below
 * the hierarchy starts with one of `prefixes` (the parents the engines use: other suites may be
 * making cgroups at the same time); then the whole tree of each of `owned` (names only these
 * tests use, such as their containerd namespace: a run that was killed may have left them, and
 * `before` would keep them for ever). Returns the ones that could not be removed.
 */
export function removeNewCgroups(
  /** @type {Set<string>} */ before,
  /** @type {string[]} */ prefixes,
  /** @type {string[]} */ owned = [],
) {
  const rel = (/** @type {string} */ d) => path.relative(CGROUP_ROOT, d).split('/');
  // v1: <hierarchy>/<prefix>…; v2 (unified or the only hierarchy): <prefix>…
  const under = (/** @type {string} */ d) => prefixes.some((p) => rel(d)[0] === p || rel(d)[1] === p);
  const all = [...cgroupDirs()];
  const fresh = all.filter((d) => !before.has(d) && under(d)).sort((a, b) => b.length - a.length);
  /** @type {string[]} */
  const left = [];
  for (const d of fresh) {
    try {
      fs.rmdirSync(d);
    } catch {
      left.push(d);
    }
  }
  // <hierarchy>/<name> on v1 and hybrid, <name> on pure v2.
  const tops = all.filter((d) => rel(d).length <= 2 && owned.includes(rel(d).at(-1) ?? ''));
  for (const d of tops) if (!removeCgroupTree(d)) left.push(d);
  return left;
}

/** Which of `paths` exist now. */
export function existing(/** @type {string[]} */ paths) {
  return new Set(paths.filter((p) => fs.existsSync(p)));
}

/** containerd's config.toml for a private daemon in `dir` on socket `sock`, without the CRI plugin. */
export function privateContainerdConfig(/** @type {string} */ dir, /** @type {string} */ sock) {
  return [
    'version = 2',
    `root = "${dir}/root"`,
    `state = "${dir}/state"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = "${sock}"`,
    '[ttrpc]',
    `  address = "${sock}.ttrpc"`,
    '[debug]',
    `  address = "${dir}/debug.sock"`,
    '[metrics]',
    '  address = ""',
    '',
  ].join('\n');
}

// Paths the engines create outside the directories they are given (no flag moves these in these
// versions): containerd's shim sockets (/run/containerd/s), ctr's default fifo dir, dockerd's
// plugin dir and trust key, podman's blob-info cache, the runtimes' default --root (podman
// passes none). Whoever starts engines removes them at the end only if they were not there before.
export const ENGINE_HOST_PATHS = [
  '/run/containerd',
  '/run/docker',
  '/etc/docker/key.json',
  '/var/lib/containers',
  '/run/libpod',
  '/run/runc',
  '/run/husk',
];
// The runtimes' default roots: removed only when nothing but dot-files is left in them.
export const RUNTIME_DEFAULT_ROOTS = ['/run/runc', '/run/husk'];

// The engines' binaries as Debian 12 installs them (the docker client: see ENGINES.md).
export const ENGINE_BINS = {
  podman: '/usr/bin/podman',
  conmon: '/usr/bin/conmon',
  containerd: '/usr/bin/containerd',
  ctr: '/usr/bin/ctr',
  shim: '/usr/bin/containerd-shim-runc-v2',
  dockerd: '/usr/sbin/dockerd',
};
