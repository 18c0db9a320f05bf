// Helpers for husk's security tests: each test gets a private --root and throwaway bundles under
// /tmp/husk-test-sec-*, and one t.after hook that force-deletes its containers, kills whatever of
// it is still running, unmounts what is left below its temp dirs and removes them, even when the
// test failed. Built on test/lib/core.mjs; RUNTIME=/path/to/runc runs the same attacks against
// another runtime for comparison.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  IS_ROOT,
  REPO,
  ROOTFS as PRISTINE,
  Scope,
  alive,
  allPids,
  busyboxMissing,
  cgroupDirsMarked,
  copyTree,
  fileSize,
  huskNotBuilt,
  killUntilGone,
  mountinfo,
  mountsUnder as hostMountsUnder,
  processesMentioning,
  procStatus,
  readProc,
  readlinkOrNull,
  removeCgroupTree,
  removeDirs,
  runSync,
  runtimeSpec,
  runtimeUnderTest,
  show,
  sleep,
  start,
  unmountUnder,
  waitFor,
} from '../lib/core.mjs';

export {
  IS_ROOT,
  REPO,
  alive,
  allPids,
  copyTree,
  hostMountsUnder,
  mountinfo,
  procStatus,
  readProc,
  readlinkOrNull,
  show,
  sleep,
  waitFor,
};

export const { runtime: RUNTIME, isHusk: IS_HUSK } = runtimeUnderTest();
export const PREFIX = '/tmp/husk-test-sec-';

async function whyNot() {
  if (!IS_ROOT) return 'the security tests make containers and need root: run them as root';
  if (!fs.existsSync(RUNTIME)) return `runtime ${RUNTIME} not found`;
  if (IS_HUSK) {
    const notBuilt = huskNotBuilt({ native: true });
    if (notBuilt) return notBuilt;
  }
  return busyboxMissing(PRISTINE);
}

/** false when the tests can run here, else the reason (pass as { skip: SKIP }). */
export const SKIP = await whyNot();

/** A reason to skip tests that rely on husk internals when RUNTIME names another runtime. */
export const HUSK_ONLY = IS_HUSK ? false : `relies on husk internals; RUNTIME=${RUNTIME} is not husk`;

const require = createRequire(import.meta.url);
/** husk's addon (listenUnix/acceptFd for --console-socket). */
export function native() {
  return require(path.join(REPO, 'out', 'native', 'index.js')).native();
}

// ---------------------------------------------------------------------------------------------
// /proc and files

/** The fds of a process as { fd: target }, or null when it is gone. */
export function fdsOf(/** @type {number} */ pid) {
  /** @type {Record<string, string|null>} */
  const out = {};
  let names = [];
  try {
    names = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return null;
  }
  for (const n of names) out[n] = readlinkOrNull(`/proc/${pid}/fd/${n}`);
  return out;
}

export function sha256(/** @type {string} */ file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** A cheap fingerprint of a file (type, size, mtime, and content hash for small files). */
export function fingerprint(/** @type {string} */ file) {
  let st;
  try {
    st = fs.lstatSync(file);
  } catch {
    return 'missing';
  }
  const kind = st.isSymbolicLink()
    ? `link:${fs.readlinkSync(file)}`
    : st.isFile()
      ? 'file'
      : `mode:${st.mode}`;
  const hash = st.isFile() && st.size < 64 << 20 ? sha256(file) : '';
  return `${kind} ${st.size} ${st.mtimeMs} ${hash}`;
}

/** Compiles a C program statically with gcc; returns its path, or null when gcc cannot. */
export function compileStatic(/** @type {string} */ src, /** @type {string} */ out) {
  const c = out + '.c';
  fs.writeFileSync(c, src);
  const r = spawnSync('gcc', ['-static', '-O2', '-o', out, c], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return out;
}

// ---------------------------------------------------------------------------------------------
// The per-test environment

/**
 * @typedef {object} SecCallOpts
 * @property {string} [log] a file that gets the runtime's (and so a created container's) stdout
 *   and stderr, for commands whose container outlives them
 * @property {Array<number|'ignore'|'pipe'|'inherit'>} [extraFds] fds passed as 3, 4, ... (--preserve-fds)
 * @property {import('node:child_process').StdioOptions} [stdio]
 * @property {string} [input]
 * @property {number} [timeout]
 * @property {string} [cwd]
 */

/**
 * @typedef {object} SecBundle
 * @property {string} dir
 * @property {string} rootfs
 * @property {string} out the host side of the container's /out
 * @property {string} configPath
 * @property {any} config
 * @property {(cfg?: any) => void} write
 * @property {(name: string) => string|null} read a file of /out, or null
 * @property {(name: string, what?: string | (() => string), ms?: number) => Promise<string>} waitOut
 */

/**
 * @typedef {object} SecBundleOpts
 * @property {boolean} [sharedRootfs] a copy shared by the file's tests, to plant nothing in
 * @property {boolean} [terminal]
 * @property {string[]} [args]
 * @property {boolean} [readonly]
 * @property {(config: any, bundle: SecBundle) => void} [mutate]
 */

class SecEnv extends Scope {
  constructor() {
    super({ marker: `hsec${crypto.randomBytes(4).toString('hex')}`, prefix: PREFIX });
    this.root = this.own(fs.mkdtempSync(PREFIX + 'root-'));
    /** @type {Set<import('node:child_process').ChildProcess>} */
    this.children = new Set();
  }

  tmp(name = 'tmp') {
    return this.tmpdir(name);
  }

  /** An empty host directory an attack would write into: assertCanary() checks it stays so. */
  canary(name = 'canary') {
    return this.tmp(name);
  }

  /** @returns {NodeJS.ProcessEnv} */
  get childEnv() {
    return { ...process.env, HUSK_SEC_MARKER: this.marker };
  }

  /**
   * Runs the runtime and waits: { code, signal, stdout, stderr, timedOut }. Output goes to files
   * unless opts.stdio, opts.log or opts.extraFds say otherwise.
   * @param {string[]} args
   * @param {SecCallOpts} [opts]
   */
  husk(args, opts = {}) {
    const argv = ['--root', this.root, ...args];
    const base = { input: opts.input, timeout: opts.timeout, cwd: opts.cwd ?? '/', env: this.childEnv };
    if (!opts.stdio && !opts.log && !opts.extraFds) return runSync(RUNTIME, argv, base);
    /** @type {any[]} */
    let stdio = /** @type {any[]} */ (opts.stdio ?? ['ignore', 'pipe', 'pipe']);
    let logFd = -1;
    if (opts.log) {
      logFd = fs.openSync(opts.log, 'a');
      stdio = ['ignore', logFd, logFd];
    }
    if (opts.extraFds) stdio = [...stdio, ...opts.extraFds];
    if (opts.input !== undefined && stdio[0] === 'ignore') stdio = ['pipe', ...stdio.slice(1)];
    const before = opts.log ? fileSize(opts.log) : 0;
    let r;
    try {
      r = runSync(RUNTIME, argv, { ...base, stdio });
    } finally {
      if (logFd >= 0) fs.closeSync(logFd);
    }
    if (!opts.log) return r;
    const logged = fs.readFileSync(opts.log, 'utf8').slice(before);
    return { ...r, stdout: logged, stderr: logged };
  }

  /**
   * Starts the runtime without waiting: { child, done } (done resolves to the result, also when
   * it could not be started).
   * @param {string[]} args
   * @param {{ stdio?: import('node:child_process').StdioOptions, cwd?: string }} [opts]
   */
  huskAsync(args, opts = {}) {
    const s = start(RUNTIME, ['--root', this.root, ...args], {
      stdio: opts.stdio,
      cwd: opts.cwd ?? '/',
      env: this.childEnv,
    });
    this.children.add(s.child);
    const done = s.done.catch((err) => ({ code: null, signal: null, ...s.output(), stderr: String(err) }));
    return { child: s.child, done };
  }

  /** The runtime's state of `id`, or null when it has none. */
  state(/** @type {string} */ id) {
    const r = this.husk(['state', id]);
    if (r.code !== 0) return null;
    return JSON.parse(r.stdout);
  }

  /** The host pid of a container's init. */
  initPid(/** @type {string} */ id) {
    const s = this.state(id);
    assert.ok(s && s.pid > 0, `no pid for container ${id}`);
    return s.pid;
  }

  /** Asserts a failed create/run left no container behind. */
  assertGone(/** @type {string} */ id) {
    assert.ok(!fs.existsSync(path.join(this.root, id)), `container ${id} left a state dir after failing`);
    assert.equal(this.state(id), null, `container ${id} still has a state after failing`);
  }

  /**
   * A bundle in a fresh temp dir: `RUNTIME spec` output, terminal off, args, the test marker in
   * the environment, a private copy of the busybox rootfs (readonly by default; sharedRootfs:
   * true for a copy shared by the file's tests, to plant nothing in) and a host directory
   * bound rw at /out for results. mutate(config, bundle) edits the config in place.
   * @param {SecBundleOpts} [opts]
   * @returns {SecBundle}
   */
  bundle(opts = {}) {
    const dir = this.tmp('bundle');
    fs.chmodSync(dir, 0o755); // reachable by a user-namespaced container's root
    const out = path.join(dir, 'out');
    /** @type {SecBundle} */
    const b = {
      dir,
      rootfs: opts.sharedRootfs ? sharedRootfs() : path.join(dir, 'rootfs'),
      out,
      configPath: path.join(dir, 'config.json'),
      config: null,
      write: (cfg = b.config) => {
        b.config = cfg;
        fs.writeFileSync(b.configPath, JSON.stringify(cfg, null, 2) + '\n');
      },
      read: (name) => {
        try {
          return fs.readFileSync(path.join(out, name), 'utf8');
        } catch {
          return null;
        }
      },
      waitOut: async (name, what = `/out/${name} from the container`, ms = 15_000) =>
        (
          await waitFor(
            () => {
              const v = b.read(name);
              return v === null ? null : { v };
            },
            what,
            ms,
            25,
          )
        ).v,
    };
    if (!opts.sharedRootfs) {
      copyTree(PRISTINE, b.rootfs);
      fs.mkdirSync(path.join(b.rootfs, 'out'));
    }
    fs.mkdirSync(b.out, { mode: 0o777 });
    fs.chmodSync(b.out, 0o777);
    const c = runtimeSpec(RUNTIME);
    c.process.terminal = !!opts.terminal;
    c.process.args = opts.args ?? ['true'];
    c.process.env.push(`HUSK_SEC_MARKER=${this.marker}`);
    c.root = { path: b.rootfs, readonly: opts.readonly ?? true };
    c.mounts.push({ destination: '/out', type: 'bind', source: b.out, options: ['rbind', 'rw'] });
    b.config = c;
    if (opts.mutate) opts.mutate(c, b);
    b.write(c);
    return b;
  }
}

/**
 * The environment of one test: { root, marker, tmp(name), id(name), canary(), husk(args, opts),
 * huskAsync(args, opts), bundle(opts), state(id), defer(fn) }. Registers the cleanup hook.
 * @param {{ after: (fn: () => unknown) => void }} t the node:test context
 */
export function secEnv(t) {
  const e = new SecEnv();
  t.after(() => cleanup(e));
  return e;
}

// One unmodified copy of the busybox rootfs (with /out) per test process, for bundles that
// plant nothing in their rootfs; removed when the process exits.
/** @type {string|null} */
let shared = null;
function sharedRootfs() {
  if (!shared) {
    const d = fs.mkdtempSync(PREFIX + 'shared-');
    shared = path.join(d, 'rootfs');
    copyTree(PRISTINE, shared);
    fs.mkdirSync(path.join(shared, 'out'));
    process.on('exit', () => {
      if (!hostMountsUnder([d]).length) fs.rmSync(d, { recursive: true, force: true });
    });
  }
  return shared;
}

/** Asserts a canary dir is still empty and nothing is mounted on or below it on the host. */
export function assertCanary(/** @type {string} */ dir, what = 'canary') {
  const entries = fs.readdirSync(dir);
  assert.deepEqual(entries, [], `${what} ${dir} was written by the runtime: ${entries.join(', ')}`);
  const m = hostMountsUnder([dir]);
  assert.deepEqual(
    m.map((x) => x.line),
    [],
    `${what} ${dir} has a mount on the host`,
  );
}

async function cleanup(/** @type {SecEnv} */ e) {
  const errors = await e.runDeferred();
  for (const c of e.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  // Containers: a state entry that is a symlink (planted by a test) is unlinked, never followed.
  let entries = /** @type {string[]} */ ([]);
  try {
    entries = fs.readdirSync(e.root);
  } catch {
    /* gone */
  }
  for (const name of new Set([...entries, ...e.ids])) {
    const p = path.join(e.root, name);
    let st = null;
    try {
      st = fs.lstatSync(p);
    } catch {
      continue;
    }
    if (!st.isDirectory()) {
      fs.rmSync(p, { force: true });
      continue;
    }
    const r = e.husk(['delete', '--force', name], { timeout: 20_000 });
    if (r.code !== 0 && fs.existsSync(p))
      errors.push(`delete --force ${name}: ${r.stderr.trim() || show(r)}`);
  }
  // Processes: anything still carrying the marker (containers, husk CLIs, helpers).
  await killUntilGone(() =>
    processesMentioning([e.marker])
      .filter((p) => !p.zombie)
      .map((p) => p.pid),
  );
  // Cgroups named after the test's containers that the runtime did not remove (only rmdir, after
  // killing what is in them; /sys/fs/cgroup itself is never touched).
  const cgroups = cgroupDirsMarked(e.marker);
  if (cgroups.length) errors.push(`cgroups left: ${cgroups.join(', ')}`);
  for (const d of cgroups) removeCgroupTree(d);
  // Mounts the test (or an attack) left below its dirs, deepest first.
  const mounts = unmountUnder(e.dirs);
  if (mounts.length) errors.push(`mounts left on the host: ${mounts.join(', ')}`);
  errors.push(...removeDirs(e.dirs));
  if (errors.length) assert.fail(errors.join('\n'));
}

// ---------------------------------------------------------------------------------------------
// Holding a `husk exec` just before its exec

/**
 * Starts `husk exec --pid-file F ...` with F and husk's temp file for it made FIFOs, so husk blocks
 * writing the pid file while its process waits, set up inside the container, for the go-ahead to
 * exec. Resolves to { hostPid, nsPid, child, release() → result } once that process exists in the
 * container's pid namespace, or to { skipped: reason } when husk did not block (a changed pid-file
 * write would do that).
 * @param {SecEnv} e
 * @param {string} _id the container (execArgs name it too)
 * @param {string[]} execArgs
 * @returns {Promise<{ skipped?: string, hostPid: number, nsPid: number,
 *   child: import('node:child_process').ChildProcess,
 *   release: () => Promise<import('../lib/core/run.mjs').Result> }>} (hostPid and nsPid are 0
 *   when skipped)
 */
export async function pausedExec(e, _id, execArgs) {
  const dir = e.tmp('pidfile');
  const pidFile = path.join(dir, 'exec.pid');
  const run = e.huskAsync(['exec', '--pid-file', pidFile, ...execArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const fifos = [pidFile, `${pidFile}.${run.child.pid}.tmp`];
  for (const f of fifos) spawnSync('mkfifo', [f]);
  /** @type {import('../lib/core/run.mjs').Result | null} */
  let result = null;
  run.done.then((r) => (result = r));
  /** @type {{ exited: true } | { hostPid: number, nsPid: number }} */
  const found = await waitFor(
    () => {
      if (result) return { exited: true };
      for (const pid of allPids()) {
        const st = procStatus(pid);
        if (Number(st.PPid) !== run.child.pid) continue;
        const ns = (st.NSpid ?? '').split(/\s+/).map(Number);
        if (ns.length >= 2 && (readlinkOrNull(`/proc/${pid}/exe`) ?? '').startsWith('/memfd:'))
          return { hostPid: pid, nsPid: ns[ns.length - 1] };
      }
      return null;
    },
    'the husk exec process to appear in the container',
    15_000,
    5,
  );
  /** @type {number[]} */
  const readers = [];
  const release = async () => {
    for (const f of fifos)
      try {
        readers.push(fs.openSync(f, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK));
      } catch {
        /* renamed away already */
      }
    const r = await run.done;
    for (const fd of readers) fs.closeSync(fd);
    return r;
  };
  e.defer(async () => {
    if (!result) {
      await Promise.race([release(), sleep(5000)]);
    }
  });
  if (!('hostPid' in found))
    return {
      skipped: `husk exec did not block on its pid file (${show(/** @type {any} */ (result))}); cannot hold it before exec`,
      hostPid: 0,
      nsPid: 0,
      child: run.child,
      release,
    };
  return { hostPid: found.hostPid, nsPid: found.nsPid, child: run.child, release };
}

// ---------------------------------------------------------------------------------------------
// A racer: swaps two names in a directory with renameat2(RENAME_EXCHANGE) as fast as it can, so
// the name is always there, alternately one thing and the other, for argv[4] seconds.

const RACER = String.raw`
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc != 5) return 2;
  int d = open(argv[1], O_PATH | O_DIRECTORY);
  if (d < 0) return 1;
  alarm((unsigned)atoi(argv[4]));
  for (;;) {
    renameat2(d, argv[2], d, argv[3], RENAME_EXCHANGE);
    usleep(20);  // leave the runtime some CPU on a small machine
  }
}
`;

export const NO_RACER = 'needs gcc with static glibc to build the renameat2(RENAME_EXCHANGE) racer';

/** Builds the racer; null when gcc cannot. */
export function buildRacer(/** @type {SecEnv} */ e) {
  return compileStatic(RACER, path.join(e.tmp('bin'), 'racer'));
}

/**
 * Starts swapping dir/a and dir/b until the test ends (or 60 s); returns the child.
 * @param {SecEnv} e
 * @param {string} racer
 * @param {string} dir
 * @param {string} a
 * @param {string} b
 */
export function startRacer(e, racer, dir, a, b) {
  const child = spawn(racer, [dir, a, b, '60'], { stdio: 'ignore', env: { HUSK_SEC_MARKER: e.marker } });
  e.defer(() => child.kill('SIGKILL'));
  return child;
}

// ---------------------------------------------------------------------------------------------
// A ptrace probe for inside the container: PTRACE_ATTACH to argv[1], then detach.

const PTRACE = String.raw`
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
int main(int argc, char **argv) {
  if (argc != 2) return 2;
  pid_t p = (pid_t)atoi(argv[1]);
  if (ptrace(PTRACE_ATTACH, p, 0, 0) < 0) {
    printf("ptrace=refused:%s\n", strerror(errno));
    return 0;
  }
  waitpid(p, 0, __WALL);
  ptrace(PTRACE_DETACH, p, 0, 0);
  printf("ptrace=ATTACHED\n");
  return 0;
}
`;

/** Builds the ptrace probe into `dir` (e.g. a bundle's /out) as "ptrace"; false without gcc. */
export function buildPtraceProbe(/** @type {string} */ dir) {
  return compileStatic(PTRACE, path.join(dir, 'ptrace')) !== null;
}
