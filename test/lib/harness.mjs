// Shared helpers for husk's root-only tests: run the CLI, make bundles, and make sure every test
// leaves nothing behind (state directories, cgroups, mounts, processes, temp directories).
//
// Each test that calls env(t), makeBundle(t, ...) or uniqueId(t, ...) gets a private --root
// (/tmp/husk-test-root-XXXX), a unique marker (part of every container id it makes and of the
// container's environment) and one t.after hook that force-deletes its containers, removes its
// temp directories and then fails the test if anything of it is still there.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CAPS, parseStatus } from '../../conformance/lib/host.mjs';
import { drain, scratchFd } from './scratch-io.mjs';

export { parseStatus };

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const HUSK = path.join(REPO, 'bin', 'husk');
export const ROOTFS = path.join(REPO, 'examples', 'busybox', 'rootfs');
export const CGROUP_ROOT = '/sys/fs/cgroup';
export const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

/** Pass as `{ skip: SKIP }` to test()/describe(): a reason string when the tests cannot run. */
export const SKIP = IS_ROOT
  ? false
  : 'integration tests need root: run them as root (sudo node --test test/integration/)';

if (IS_ROOT) {
  if (!fs.existsSync(path.join(REPO, 'dist', 'husk.js')))
    throw new Error(`husk is not built: run \`npm run build:ts && npm run build:bundle\` in ${REPO}`);
  const { ensureRootfs } = await import(path.join(REPO, 'scripts', 'ensure-rootfs.mjs'));
  ensureRootfs(ROOTFS);
}

const require = createRequire(import.meta.url);

/** The addon as built for the unit tests (out/), for the console-socket receiver. */
export function native() {
  return require(path.join(REPO, 'out', 'native', 'index.js')).native();
}

// ---------------------------------------------------------------------------------------------
// Running husk

function huskArgv(args, opts) {
  const argv = [];
  if (opts.root) argv.push('--root', opts.root);
  return [...argv, ...args];
}

function huskEnv(opts) {
  return { ...process.env, ...(opts.marker ? { HUSK_TEST_MARKER: opts.marker } : {}), ...(opts.env ?? {}) };
}

/**
 * Runs husk synchronously: husk(['state', id], { root, input, timeout, cwd, env, stdio }) →
 * { code, signal, stdout, stderr, timedOut }. stdout and stderr go to files (not pipes) unless
 * `stdio` is given.
 */
export function husk(args, opts = {}) {
  const t0 = Date.now();
  const files = opts.stdio ? null : [scratchFd(), scratchFd()];
  let r;
  let stdout = '';
  let stderr = '';
  try {
    // ETXTBSY: bin/husk is being rewritten by a concurrent build; try again shortly.
    for (let i = 0; i < 20; i++) {
      r = spawnSync(opts.runtime ?? HUSK, huskArgv(args, opts), {
        input: opts.input,
        timeout: opts.timeout ?? 30_000,
        encoding: 'utf8',
        cwd: opts.cwd,
        env: huskEnv(opts),
        stdio: opts.stdio ?? [opts.input === undefined ? 'ignore' : 'pipe', files[0], files[1]],
        killSignal: 'SIGKILL',
      });
      if (r.error?.code !== 'ETXTBSY') break;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  } finally {
    if (files) {
      stdout = drain(files[0]);
      stderr = drain(files[1]);
    }
  }
  if (r.error && r.error.code !== 'ETIMEDOUT') throw r.error;
  if (process.env.HUSK_TEST_TRACE)
    process.stderr.write(
      `# husk ${args.join(' ')}: ${Date.now() - t0} ms, exit ${r.status}: ${stderr.trim()}\n`,
    );
  return {
    code: r.status,
    signal: r.signal,
    stdout: files ? stdout : (r.stdout ?? ''),
    stderr: files ? stderr : (r.stderr ?? ''),
    timedOut: r.error?.code === 'ETIMEDOUT',
  };
}

/**
 * Starts husk without waiting: { child, done, output() }. `done` resolves to
 * { code, signal, stdout, stderr }; output() is what was read so far.
 */
export function huskAsync(args, opts = {}) {
  const child = spawn(opts.runtime ?? HUSK, huskArgv(args, opts), {
    cwd: opts.cwd,
    env: huskEnv(opts),
    stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d) => (stderr += d));
  // 'exit', not 'close': a container that outlives husk (a bug) keeps husk's pipes open. Wait a
  // little for the pipes to drain, then settle with what was read.
  const done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const settle = () => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        resolve({ code, signal, stdout, stderr });
      };
      const timer = setTimeout(settle, 500);
      child.on('close', () => {
        clearTimeout(timer);
        settle();
      });
    });
  });
  return { child, done, output: () => ({ stdout, stderr }) };
}

/** One-line summary of a husk result, for assertion messages. */
export function show(r) {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** Asserts a husk result failed with one `husk: ...` line that contains `fragment`. */
export function assertFails(r, fragment) {
  assert.notEqual(r.code, 0, `expected failure containing ${JSON.stringify(fragment)}, got ${show(r)}`);
  assert.ok(!r.signal && !r.timedOut, `husk died or hung instead of failing: ${show(r)}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  const errLines = lines.filter((l) => l.startsWith('husk: '));
  assert.equal(errLines.length, 1, `expected exactly one "husk: " error line on stderr, got ${show(r)}`);
  if (fragment instanceof RegExp) assert.match(errLines[0], fragment, show(r));
  else
    assert.ok(
      errLines[0].includes(fragment),
      `expected ${JSON.stringify(fragment)} in the error, got ${show(r)}`,
    );
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn() until it returns a truthy value; fails after timeoutMs with `what`. */
export async function waitFor(fn, what, timeoutMs = 10_000, everyMs = 20) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Per-test environment

const envs = new WeakMap();
let counter = 0;
let baseSpec = null;

/**
 * The test's environment: { root, marker, id(name), husk(args, opts), huskAsync, tmpdir(), defer(fn),
 * state(id), assertClean() }. Made on first use; registers the cleanup hook. `runtime` (a path)
 * runs another runtime binary in place of husk for every call of this test, cleanup included.
 */
export function env(t, { runtime } = {}) {
  let e = envs.get(t);
  if (e) return e;
  const marker = `ht${process.pid.toString(36)}${(counter++).toString(36)}${crypto.randomBytes(2).toString('hex')}`;
  const root = fs.mkdtempSync('/tmp/husk-test-root-');
  e = {
    marker,
    root,
    ids: new Set(),
    dirs: [root],
    cleanups: [],
    husk: (args, opts = {}) => husk(args, { root, marker, cwd: root, runtime, ...opts }),
    huskAsync: (args, opts = {}) => huskAsync(args, { root, marker, cwd: root, runtime, ...opts }),
    id(name = 'c') {
      const id = `${marker}-${name}`;
      e.ids.add(id);
      return id;
    },
    tmpdir(prefix = 'husk-test-') {
      const d = fs.mkdtempSync(path.join('/tmp', prefix));
      e.dirs.push(d);
      return d;
    },
    defer(fn) {
      e.cleanups.push(fn);
    },
    state(id) {
      const r = e.husk(['state', id]);
      assert.equal(r.code, 0, `husk state ${id}: ${show(r)}`);
      return JSON.parse(r.stdout);
    },
    assertClean: () => assertClean(e),
  };
  envs.set(t, e);
  t.after(() => cleanup(e));
  return e;
}

/** A container id unique to this test (it carries the test's marker) that cleanup will delete. */
export function uniqueId(t, name) {
  return env(t).id(name);
}

function baseConfig() {
  if (!baseSpec) {
    const d = fs.mkdtempSync('/tmp/husk-test-spec-');
    try {
      const r = husk(['spec', '--bundle', d]);
      assert.equal(r.code, 0, `husk spec: ${show(r)}`);
      baseSpec = JSON.parse(fs.readFileSync(path.join(d, 'config.json'), 'utf8'));
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  }
  return structuredClone(baseSpec);
}

/** Copies the busybox rootfs into `dest` (cp -a keeps the applet symlinks). */
export function copyRootfs(dest) {
  const r = spawnSync('cp', ['-a', ROOTFS, dest], { encoding: 'utf8' });
  assert.equal(r.status, 0, `cp -a ${ROOTFS} ${dest}: ${r.stderr}`);
  return dest;
}

/**
 * Writes a bundle in a fresh /tmp/husk-test-XXXX: `husk spec` output with terminal false, args
 * `opts.args` (default ["true"]), the test marker in the environment, root.path the shared
 * busybox rootfs (absolute, readonly) or a private copy with { copyRootfs: true }. `mutate(config,
 * bundle)` may change the config in place or return a new one; a string return is written as is.
 * Returns { dir, configPath, config, rootfs, write(config) }.
 */
export function makeBundle(t, mutate, opts = {}) {
  if (typeof mutate === 'object' && mutate !== null) [mutate, opts] = [undefined, mutate];
  const e = env(t);
  const dir = e.tmpdir();
  const bundle = { dir, configPath: path.join(dir, 'config.json'), rootfs: ROOTFS };
  if (opts.copyRootfs) bundle.rootfs = copyRootfs(path.join(dir, 'rootfs'));
  let config = baseConfig();
  config.process.terminal = false;
  config.process.args = opts.args ?? ['true'];
  config.process.env.push(`HUSK_TEST_MARKER=${e.marker}`);
  config.root = { path: bundle.rootfs, readonly: true };
  if (mutate) {
    const out = mutate(config, bundle);
    if (out !== undefined) config = out;
  }
  bundle.write = (c) => {
    fs.writeFileSync(bundle.configPath, typeof c === 'string' ? c : JSON.stringify(c, null, 2) + '\n');
    bundle.config = c;
  };
  bundle.write(config);
  return bundle;
}

/**
 * Runs `sh -c script` in a new container (husk run, foreground) and returns husk's result.
 * mutate and opts as makeBundle; opts.runArgs are extra flags for `run`.
 */
export function runSh(t, script, mutate, opts = {}) {
  const e = env(t);
  const b = makeBundle(t, mutate, { ...opts, args: ['sh', '-c', script] });
  const id = e.id(opts.name ?? 'sh');
  const r = e.husk(['run', ...(opts.runArgs ?? []), '--bundle', b.dir, id], {
    stdio: opts.stdio,
    timeout: opts.timeout,
  });
  return { ...r, id, bundle: b };
}

// ---------------------------------------------------------------------------------------------
// What a test may leave behind, and cleanup

function readProc(pid, file) {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return null;
  }
}

function exeOf(pid) {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return null;
  }
}

function allPids() {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((p) => p !== process.pid);
}

/** Pids of every husk-init run from its sealed memfd (a created container's init, or a stuck one). */
export function memfdInits() {
  return new Set(allPids().filter((p) => (exeOf(p) ?? '').startsWith('/memfd:husk-init')));
}

/** The cgroup directories named after `id` below /sys/fs/cgroup/<hierarchy>/husk/. */
export function cgroupDirsOf(id) {
  const out = [];
  let hierarchies = [];
  try {
    hierarchies = fs.readdirSync(CGROUP_ROOT);
  } catch {
    return out;
  }
  for (const h of hierarchies) {
    const d = path.join(CGROUP_ROOT, h, 'husk', id);
    if (fs.existsSync(d)) out.push(d);
  }
  return out;
}

/** Lines of the host's mountinfo that mention any of `needles`. */
function mountsMentioning(needles) {
  const lines = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  return lines.filter((l) => l && needles.some((n) => l.includes(n)));
}

function linkOf(pid, what) {
  try {
    return fs.readlinkSync(`/proc/${pid}/${what}`);
  } catch {
    return null;
  }
}

/**
 * Processes that belong to the test: the marker in their cmdline, environ or cgroup (container
 * ids carry it), or a cwd or root inside the test's directories (husk runs with its cwd in the
 * test's --root, so a husk-init that never got to pivot_root is found too).
 */
function leakedProcesses(e) {
  const out = [];
  const inDirs = (p) => p !== null && e.dirs.some((d) => p === d || p.startsWith(d + '/'));
  for (const pid of allPids()) {
    const cmdline = (readProc(pid, 'cmdline') ?? '').replace(/\0/g, ' ').trim();
    const environ = readProc(pid, 'environ') ?? '';
    const cgroup = readProc(pid, 'cgroup') ?? '';
    const ours =
      cmdline.includes(e.marker) ||
      environ.includes(e.marker) ||
      cgroup.includes(e.marker) ||
      inDirs(linkOf(pid, 'cwd')) ||
      inDirs(linkOf(pid, 'root'));
    if (!ours) continue;
    const stat = readProc(pid, 'stat') ?? '';
    if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue; // a zombie is its parent's to reap
    out.push({ pid, exe: exeOf(pid) ?? '?', cmdline });
  }
  return out;
}

/** Everything of the test still on the host: { stateDirs, cgroups, processes, mounts }. */
export function leftovers(e) {
  const stateDirs = [];
  try {
    for (const d of fs.readdirSync(e.root, { withFileTypes: true }))
      stateDirs.push(path.join(e.root, d.name));
  } catch {
    /* root never made */
  }
  const ids = new Set(e.ids);
  const cgroups = [...ids].flatMap(cgroupDirsOf);
  // Any cgroup named with the marker, even one whose id the test did not register.
  for (const h of safeReaddir(CGROUP_ROOT))
    for (const c of safeReaddir(path.join(CGROUP_ROOT, h, 'husk')))
      if (c.includes(e.marker) && !cgroups.includes(path.join(CGROUP_ROOT, h, 'husk', c)))
        cgroups.push(path.join(CGROUP_ROOT, h, 'husk', c));
  const mounts = mountsMentioning([e.marker, ...e.dirs]);
  const processes = leakedProcesses(e);
  return { stateDirs, cgroups, processes, mounts };
}

function safeReaddir(d) {
  try {
    return fs.readdirSync(d);
  } catch {
    return [];
  }
}

function describeLeftovers(l) {
  const parts = [];
  if (l.stateDirs.length) parts.push(`state dirs: ${l.stateDirs.join(', ')}`);
  if (l.cgroups.length) parts.push(`cgroups: ${l.cgroups.join(', ')}`);
  if (l.processes.length)
    parts.push(`processes: ${l.processes.map((p) => `${p.pid} (${p.exe}: ${p.cmdline})`).join('; ')}`);
  if (l.mounts.length) parts.push(`mounts: ${l.mounts.join(' | ')}`);
  return parts.join('\n');
}

function isEmpty(l) {
  return !l.stateDirs.length && !l.cgroups.length && !l.processes.length && !l.mounts.length;
}

/** Fails unless the test has nothing left on the host (processes are re-checked once, later). */
export async function assertClean(e) {
  let l = leftovers(e);
  if (l.processes.length) {
    await sleep(300);
    l = { ...l, processes: leftovers(e).processes };
  }
  assert.ok(isEmpty(l), `left behind:\n${describeLeftovers(l)}`);
}

function forceRemoveCgroup(dir) {
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
  for (const fn of e.cleanups.reverse()) {
    try {
      await fn();
    } catch (err) {
      errors.push(`cleanup: ${err.message}`);
    }
  }
  // Force-delete every container the test made or that is in its --root.
  const ids = new Set(e.ids);
  for (const d of safeReaddir(e.root)) ids.add(d);
  for (const id of ids) {
    if (!fs.existsSync(path.join(e.root, id)) && !cgroupDirsOf(id).length) continue;
    const r = e.husk(['delete', '--force', id], { timeout: 20_000 });
    if (r.code !== 0 && fs.existsSync(path.join(e.root, id)))
      errors.push(`husk delete --force ${id}: ${r.stderr.trim() || show(r)}`);
  }
  let l = leftovers(e);
  if (l.processes.length) {
    await sleep(300);
    l = { ...l, processes: leftovers(e).processes };
  }
  if (!isEmpty(l)) errors.push(`left behind after delete --force:\n${describeLeftovers(l)}`);
  // Clean up what husk did not, so one failing test does not break the next ones.
  for (const p of l.processes)
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  for (const c of l.cgroups) forceRemoveCgroup(c);
  for (const m of l.mounts) {
    const mp = m.split(' ')[4];
    if (mp) spawnSync('umount', ['-l', mp]);
  }
  // Never rm -rf through a mount point: that could delete host files behind a leaked bind.
  const stillMounted = mountsMentioning(e.dirs);
  for (const d of e.dirs) {
    if (stillMounted.some((m) => m.includes(d))) {
      errors.push(`not removing ${d}: something is still mounted below it`);
      continue;
    }
    fs.rmSync(d, { recursive: true, force: true });
  }
  if (errors.length) assert.fail(errors.join('\n'));
}

// ---------------------------------------------------------------------------------------------
// Inside the container

// The capability list and the status parser are the conformance suite's (runtime-neutral).
export const CAPABILITIES = CAPS;

/** The 16-hex-digit mask /proc/<pid>/status shows for a list of capability names. */
export function capHex(names = []) {
  let m = 0n;
  for (const n of names) {
    const i = CAPABILITIES.indexOf(n);
    assert.ok(i >= 0, `unknown capability ${n}`);
    m |= 1n << BigInt(i);
  }
  return m.toString(16).padStart(16, '0');
}
