// Helpers for husk's security tests: each test gets a private --root and throwaway bundles under
// /tmp/husk-test-sec-*, and one t.after hook that force-deletes its containers, kills whatever of
// it is still running, unmounts what is left below its temp dirs and removes them, even when the
// test failed. Self-contained on purpose (test/lib/harness.mjs is another helper's and may
// change); RUNTIME=/path/to/runc runs the same attacks against another runtime for comparison.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RUNTIME = process.env.RUNTIME
  ? path.resolve(process.env.RUNTIME)
  : path.join(REPO, 'bin', 'husk');
export const IS_HUSK = !process.env.RUNTIME || /husk/.test(path.basename(RUNTIME));
export const PREFIX = '/tmp/husk-test-sec-';
export const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
const PRISTINE = path.join(REPO, 'examples', 'busybox', 'rootfs');
const HUSK_INIT = path.join(REPO, 'build', 'Release', 'husk-init');

async function whyNot() {
  if (!IS_ROOT) return 'the security tests make containers and need root: run them as root';
  if (!fs.existsSync(RUNTIME)) return `runtime ${RUNTIME} not found`;
  if (IS_HUSK) {
    if (!fs.existsSync(path.join(REPO, 'dist', 'husk.js')))
      return `husk is not built: run \`npm run build:ts && npm run build:bundle\` in ${REPO}`;
    if (!fs.existsSync(path.join(REPO, 'build', 'Release', 'husk_native.node')) || !fs.existsSync(HUSK_INIT))
      return `husk's addon or husk-init is not built: run \`npm run build:native\` in ${REPO}`;
  }
  try {
    const { ensureRootfs } = await import(path.join(REPO, 'scripts', 'ensure-rootfs.mjs'));
    ensureRootfs(PRISTINE);
  } catch (err) {
    return `no busybox rootfs: ${err.message}`;
  }
  return false;
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

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn() until it returns a truthy value, or throws after timeoutMs naming `what`. */
export async function waitFor(fn, what, timeoutMs = 10_000, everyMs = 25) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`,
      );
    await sleep(everyMs);
  }
}

export function show(r) {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}${r.timedOut ? ' (timed out)' : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

// ---------------------------------------------------------------------------------------------
// /proc helpers

export function readProc(pid, file) {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return null;
  }
}

export function readlinkOrNull(p) {
  try {
    return fs.readlinkSync(p);
  } catch {
    return null;
  }
}

export function allPids() {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

export function procStatus(pid) {
  const out = {};
  for (const l of (readProc(pid, 'status') ?? '').split('\n')) {
    const m = /^(\w+):\s*(.*)$/.exec(l);
    if (m) out[m[1]] = m[2].trim();
  }
  return out;
}

export function alive(pid) {
  const stat = readProc(pid, 'stat');
  if (!stat) return false;
  return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

/** The fds of a process as { fd: target }. */
export function fdsOf(pid) {
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

/** Parsed mountinfo lines: { mountpoint, root, fstype, source }. */
export function mountinfo(pid = 'self') {
  const text = readProc(pid, 'mountinfo') ?? '';
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [pre, post] = l.split(' - ');
      const f = pre.split(' ');
      const [fstype, source] = post.split(' ');
      return { line: l, root: unescape(f[3]), mountpoint: unescape(f[4]), fstype, source };
    });
}

function unescape(s) {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/** Host mounts at or below any of `dirs`. */
export function hostMountsUnder(dirs) {
  return mountinfo().filter((m) => dirs.some((d) => m.mountpoint === d || m.mountpoint.startsWith(d + '/')));
}

export function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** A cheap fingerprint of a file (type, size, mtime, and content hash for small files). */
export function fingerprint(file) {
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
export function compileStatic(src, out) {
  const c = out + '.c';
  fs.writeFileSync(c, src);
  const r = spawnSync('gcc', ['-static', '-O2', '-o', out, c], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return out;
}

// ---------------------------------------------------------------------------------------------
// The per-test environment

let baseSpec = null;
function baseConfig() {
  if (!baseSpec) {
    const d = fs.mkdtempSync(PREFIX + 'spec-');
    try {
      const r = spawnSync(RUNTIME, ['spec', '--bundle', d], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, `${RUNTIME} spec: ${r.stderr}`);
      baseSpec = JSON.parse(fs.readFileSync(path.join(d, 'config.json'), 'utf8'));
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  }
  return structuredClone(baseSpec);
}

function runtimeArgv(root, args) {
  return ['--root', root, ...args];
}

/**
 * The environment of one test: { root, marker, tmp(name), id(name), canary(), husk(args, opts),
 * huskAsync(args, opts), bundle(opts), state(id), defer(fn) }. Registers the cleanup hook.
 */
export function secEnv(t) {
  const marker = `hsec${crypto.randomBytes(4).toString('hex')}`;
  const e = {
    marker,
    root: fs.mkdtempSync(PREFIX + 'root-'),
    dirs: [],
    ids: new Set(),
    deferred: [],
    children: new Set(),
    tmp(name = 'tmp') {
      const d = fs.mkdtempSync(`${PREFIX}${name}-`);
      e.dirs.push(d);
      return d;
    },
    /** An empty host directory an attack would write into: assertCanary() checks it stays so. */
    canary(name = 'canary') {
      return e.tmp(name);
    },
    id(name = 'c') {
      const id = `${marker}-${name}`;
      e.ids.add(id);
      return id;
    },
    defer(fn) {
      e.deferred.push(fn);
    },
    /**
     * Runs the runtime and waits: { code, signal, stdout, stderr, timedOut }. opts.log: a file
     * that gets the runtime's (and so a created container's) stdout and stderr, for commands
     * whose container outlives them; opts.extraFds: fds passed as 3, 4, ... (--preserve-fds).
     */
    husk(args, opts = {}) {
      let stdio = opts.stdio ?? ['ignore', 'pipe', 'pipe'];
      let logFd = -1;
      if (opts.log) {
        logFd = fs.openSync(opts.log, 'a');
        stdio = ['ignore', logFd, logFd];
      }
      if (opts.extraFds) stdio = [...stdio, ...opts.extraFds];
      const before = opts.log ? fileSize(opts.log) : 0;
      const r = spawnSync(RUNTIME, runtimeArgv(e.root, args), {
        input: opts.input,
        stdio: opts.input !== undefined && stdio[0] === 'ignore' ? ['pipe', ...stdio.slice(1)] : stdio,
        timeout: opts.timeout ?? 30_000,
        encoding: 'utf8',
        cwd: opts.cwd ?? '/',
        env: { ...process.env, HUSK_SEC_MARKER: marker },
        killSignal: 'SIGKILL',
      });
      if (logFd >= 0) fs.closeSync(logFd);
      if (r.error && r.error.code !== 'ETIMEDOUT') throw r.error;
      const logged = opts.log ? fs.readFileSync(opts.log, 'utf8').slice(before) : '';
      return {
        code: r.status,
        signal: r.signal,
        stdout: opts.log ? logged : (r.stdout ?? ''),
        stderr: opts.log ? logged : (r.stderr ?? ''),
        timedOut: r.error?.code === 'ETIMEDOUT',
      };
    },
    /** Starts the runtime without waiting: { child, done } (done resolves to the result). */
    huskAsync(args, opts = {}) {
      const child = spawn(RUNTIME, runtimeArgv(e.root, args), {
        stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
        cwd: opts.cwd ?? '/',
        env: { ...process.env, HUSK_SEC_MARKER: marker },
      });
      e.children.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout?.setEncoding('utf8').on('data', (d) => (stdout += d));
      child.stderr?.setEncoding('utf8').on('data', (d) => (stderr += d));
      const done = new Promise((resolve) => {
        child.on('error', (err) => resolve({ code: null, signal: null, stdout, stderr: String(err) }));
        child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
      });
      return { child, done };
    },
    /** The runtime's state of `id`, or null when it has none. */
    state(id) {
      const r = e.husk(['state', id]);
      if (r.code !== 0) return null;
      return JSON.parse(r.stdout);
    },
    /** The host pid of a container's init. */
    initPid(id) {
      const s = e.state(id);
      assert.ok(s && s.pid > 0, `no pid for container ${id}`);
      return s.pid;
    },
    /** Asserts a failed create/run left no container behind. */
    assertGone(id) {
      assert.ok(!fs.existsSync(path.join(e.root, id)), `container ${id} left a state dir after failing`);
      assert.equal(e.state(id), null, `container ${id} still has a state after failing`);
    },
    /**
     * A bundle in a fresh temp dir: `RUNTIME spec` output, terminal off, args, the test marker in
     * the environment, a private copy of the busybox rootfs (readonly by default; sharedRootfs:
     * true for a copy shared by the file's tests, to plant nothing in) and a host directory
     * bound rw at /out for results. mutate(config, bundle) edits the config in place.
     */
    bundle(opts = {}) {
      const dir = e.tmp('bundle');
      fs.chmodSync(dir, 0o755); // reachable by a user-namespaced container's root
      const b = {
        dir,
        rootfs: opts.sharedRootfs ? sharedRootfs() : path.join(dir, 'rootfs'),
        out: path.join(dir, 'out'),
        configPath: path.join(dir, 'config.json'),
      };
      if (!opts.sharedRootfs) {
        copyTree(PRISTINE, b.rootfs);
        fs.mkdirSync(path.join(b.rootfs, 'out'));
      }
      fs.mkdirSync(b.out, { mode: 0o777 });
      fs.chmodSync(b.out, 0o777);
      const c = baseConfig();
      c.process.terminal = !!opts.terminal;
      c.process.args = opts.args ?? ['true'];
      c.process.env.push(`HUSK_SEC_MARKER=${marker}`);
      c.root = { path: b.rootfs, readonly: opts.readonly ?? true };
      c.mounts.push({ destination: '/out', type: 'bind', source: b.out, options: ['rbind', 'rw'] });
      b.config = c;
      b.write = (cfg = b.config) => {
        b.config = cfg;
        fs.writeFileSync(b.configPath, JSON.stringify(cfg, null, 2) + '\n');
      };
      b.read = (name) => {
        try {
          return fs.readFileSync(path.join(b.out, name), 'utf8');
        } catch {
          return null;
        }
      };
      b.waitOut = async (name, what = `/out/${name} from the container`, ms = 15_000) =>
        (
          await waitFor(
            () => {
              const v = b.read(name);
              return v === null ? null : { v };
            },
            what,
            ms,
          )
        ).v;
      if (opts.mutate) opts.mutate(c, b);
      b.write(c);
      return b;
    },
  };
  e.dirs.push(e.root);
  t.after(() => cleanup(e));
  return e;
}

// One unmodified copy of the busybox rootfs (with /out) per test process, for bundles that
// plant nothing in their rootfs; removed when the process exits.
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

/** cp -a of the busybox rootfs (dirs, regular files, symlinks), without spawning cp. */
export function copyTree(src, dest) {
  const st = fs.lstatSync(src);
  if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(src), dest);
  else if (st.isDirectory()) {
    fs.mkdirSync(dest);
    for (const n of fs.readdirSync(src)) copyTree(path.join(src, n), path.join(dest, n));
    fs.chmodSync(dest, st.mode & 0o7777);
  } else if (st.isFile()) {
    fs.copyFileSync(src, dest);
    fs.chmodSync(dest, st.mode & 0o7777);
  } else throw new Error(`copyTree: ${src} is not a file, directory or symlink`);
}

function fileSize(f) {
  try {
    return fs.statSync(f).size;
  } catch {
    return 0;
  }
}

/** Asserts a canary dir is still empty and nothing is mounted on or below it on the host. */
export function assertCanary(dir, what = 'canary') {
  const entries = fs.readdirSync(dir);
  assert.deepEqual(entries, [], `${what} ${dir} was written by the runtime: ${entries.join(', ')}`);
  const m = hostMountsUnder([dir]);
  assert.deepEqual(
    m.map((x) => x.line),
    [],
    `${what} ${dir} has a mount on the host`,
  );
}

/** Pids (not ours) whose environ, cmdline or cgroup mentions `marker`. */
function markedPids(marker) {
  const out = [];
  for (const pid of allPids()) {
    if (pid === process.pid) continue;
    const hay = [readProc(pid, 'environ'), readProc(pid, 'cmdline'), readProc(pid, 'cgroup')].join('\n');
    if (hay.includes(marker) && alive(pid)) out.push(pid);
  }
  return out;
}

const CGROUP_ROOT = '/sys/fs/cgroup';

function safeReaddir(d) {
  try {
    return fs.readdirSync(d, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** Cgroup directories (up to three levels below each hierarchy) whose name has `marker`. */
function markedCgroups(marker) {
  const out = [];
  const walk = (dir, depth) => {
    for (const d of safeReaddir(dir)) {
      if (!d.isDirectory()) continue;
      const p = path.join(dir, d.name);
      if (d.name.includes(marker)) out.push(p);
      else if (depth < 3) walk(p, depth + 1);
    }
  };
  for (const h of safeReaddir(CGROUP_ROOT)) if (h.isDirectory()) walk(path.join(CGROUP_ROOT, h.name), 1);
  return out.sort((a, b) => b.length - a.length);
}

function removeCgroup(dir) {
  for (const d of safeReaddir(dir)) if (d.isDirectory()) removeCgroup(path.join(dir, d.name));
  for (let i = 0; i < 100; i++) {
    let pids = [];
    try {
      pids = fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      /* gone */
    }
    for (const p of pids)
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    try {
      fs.rmdirSync(dir);
      return;
    } catch (err) {
      if (err.code === 'ENOENT') return;
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
}

async function cleanup(e) {
  const errors = [];
  for (const fn of e.deferred.reverse()) {
    try {
      await fn();
    } catch (err) {
      errors.push(`cleanup: ${err.message}`);
    }
  }
  for (const c of e.children)
    if (c.exitCode === null && c.signalCode === null)
      try {
        c.kill('SIGKILL');
      } catch {
        /* gone */
      }
  // Containers: a state entry that is a symlink (planted by a test) is unlinked, never followed.
  let entries = [];
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
  for (let i = 0; i < 50; i++) {
    const left = markedPids(e.marker);
    if (!left.length) break;
    for (const pid of left)
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    await sleep(40);
  }
  // Cgroups named after the test's containers that the runtime did not remove (only rmdir, after
  // killing what is in them; /sys/fs/cgroup itself is never touched).
  const cgroups = markedCgroups(e.marker);
  if (cgroups.length) errors.push(`cgroups left: ${cgroups.join(', ')}`);
  for (const d of cgroups) removeCgroup(d);
  // Mounts the test (or an attack) left below its dirs, deepest first.
  const dirs = e.dirs;
  for (let i = 0; i < 3; i++) {
    const left = hostMountsUnder(dirs).sort((a, b) => b.mountpoint.length - a.mountpoint.length);
    if (!left.length) break;
    if (i === 0) errors.push(`mounts left on the host: ${left.map((m) => m.mountpoint).join(', ')}`);
    for (const m of left) spawnSync('umount', ['-l', m.mountpoint]);
  }
  const still = hostMountsUnder(dirs);
  for (const d of dirs) {
    if (still.some((m) => m.mountpoint === d || m.mountpoint.startsWith(d + '/'))) {
      errors.push(`not removing ${d}: something is still mounted below it`);
      continue;
    }
    fs.rmSync(d, { recursive: true, force: true });
  }
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
 */
export async function pausedExec(e, id, execArgs) {
  const dir = e.tmp('pidfile');
  const pidFile = path.join(dir, 'exec.pid');
  const run = e.huskAsync(['exec', '--pid-file', pidFile, ...execArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const fifos = [pidFile, `${pidFile}.${run.child.pid}.tmp`];
  for (const f of fifos) spawnSync('mkfifo', [f]);
  let result = null;
  run.done.then((r) => (result = r));
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
  if (found.exited)
    return {
      skipped: `husk exec did not block on its pid file (${show(result)}); cannot hold it before exec`,
    };
  return { ...found, child: run.child, release };
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
export function buildRacer(e) {
  return compileStatic(RACER, path.join(e.tmp('bin'), 'racer'));
}

/** Starts swapping dir/a and dir/b until the test ends (or 60 s); returns the child. */
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
export function buildPtraceProbe(dir) {
  return compileStatic(PTRACE, path.join(dir, 'ptrace')) !== null;
}
