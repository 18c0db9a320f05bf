// Shared helpers for husk's root-only tests: run the CLI, make bundles, and make sure every test
// leaves nothing behind (state directories, cgroups, mounts, processes, temp directories).
//
// Each test that calls env(t), makeBundle(t, ...) or uniqueId(t, ...) gets a private --root
// (/tmp/husk-test-root-XXXX), a unique marker (part of every container id it makes and of the
// container's environment) and one t.after hook that force-deletes its containers, removes its
// temp directories and then fails the test if anything of it is still there.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { CAPS, capMask } from '../../conformance/lib/host.mjs';
import {
  CGROUP_ROOT,
  HUSK,
  IS_ROOT,
  REPO,
  ROOTFS,
  Scope,
  cgroupDirsNamed,
  entriesOf,
  huskCgroupsWith,
  huskNotBuilt,
  memfdInitPids,
  mountinfoLines,
  parseStatus,
  processesMentioning,
  removeCgroupTree,
  removeDirs,
  runSync,
  runtimeSpec,
  show,
  sleep,
  start,
  uniqueMarker,
  waitFor,
  killQuietly,
} from './core.mjs';

export { CGROUP_ROOT, HUSK, IS_ROOT, REPO, ROOTFS, parseStatus, show, sleep, waitFor };

/** Pass as `{ skip: SKIP }` to test()/describe(): a reason string when the tests cannot run. */
export const SKIP = IS_ROOT
  ? false
  : 'integration tests need root: run them as root (sudo node --test test/integration/)';

if (IS_ROOT) {
  const notBuilt = huskNotBuilt();
  if (notBuilt) throw new Error(notBuilt);
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

/**
 * @typedef {object} HuskOpts
 * @property {string} [root] --root
 * @property {string} [marker] put in the environment as HUSK_TEST_MARKER
 * @property {Record<string, string>} [env] added to this process's environment
 * @property {string} [runtime] another runtime binary in place of husk
 * @property {string} [input]
 * @property {number} [timeout]
 * @property {string} [cwd]
 * @property {import('node:child_process').StdioOptions} [stdio]
 */

function huskArgv(/** @type {string[]} */ args, /** @type {HuskOpts} */ opts) {
  return [...(opts.root ? ['--root', opts.root] : []), ...args];
}

function huskEnv(/** @type {HuskOpts} */ opts) {
  return { ...process.env, ...(opts.marker ? { HUSK_TEST_MARKER: opts.marker } : {}), ...(opts.env ?? {}) };
}

/**
 * Runs husk synchronously: husk(['state', id], { root, input, timeout, cwd, env, stdio }) →
 * { code, signal, stdout, stderr, timedOut }. stdout and stderr go to files (not pipes) unless
 * `stdio` is given.
 * @param {string[]} args
 * @param {HuskOpts} [opts]
 */
export function husk(args, opts = {}) {
  const t0 = Date.now();
  const r = runSync(opts.runtime ?? HUSK, huskArgv(args, opts), {
    input: opts.input,
    timeout: opts.timeout,
    cwd: opts.cwd,
    env: huskEnv(opts),
    stdio: opts.stdio,
  });
  if (process.env.HUSK_TEST_TRACE)
    process.stderr.write(
      `# husk ${args.join(' ')}: ${Date.now() - t0} ms, exit ${r.code}: ${r.stderr.trim()}\n`,
    );
  return r;
}

/**
 * Starts husk without waiting: { child, done, output() }. `done` resolves to
 * { code, signal, stdout, stderr }; output() is what was read so far.
 * @param {string[]} args
 * @param {HuskOpts} [opts]
 */
export function huskAsync(args, opts = {}) {
  return start(opts.runtime ?? HUSK, huskArgv(args, opts), {
    cwd: opts.cwd,
    env: huskEnv(opts),
    stdio: opts.stdio,
  });
}

/**
 * Asserts a husk result failed with one `husk: ...` line that contains `fragment`.
 * @param {import('./core/run.mjs').Result} r
 * @param {string | RegExp} fragment
 */
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

// ---------------------------------------------------------------------------------------------
// Per-test environment

/**
 * One test's environment: a Scope (marker, ids, dirs, defer) with a private --root, husk calls
 * that use it, and the checks of what is left behind.
 */
class TestEnv extends Scope {
  /** @param {string | undefined} runtime */
  constructor(runtime) {
    super({ marker: uniqueMarker('ht') });
    this.root = this.own(fs.mkdtempSync('/tmp/husk-test-root-'));
    this.runtime = runtime;
  }

  /** The deferred cleanups (older name). */
  get cleanups() {
    return this.deferred;
  }

  /** This test's defaults for a husk call (its --root, marker, cwd and runtime), then `opts`. */
  callOpts(/** @type {HuskOpts} */ opts) {
    return { root: this.root, marker: this.marker, cwd: this.root, runtime: this.runtime, ...opts };
  }

  /** @param {string[]} args @param {HuskOpts} [opts] */
  husk(args, opts = {}) {
    return husk(args, this.callOpts(opts));
  }

  /** @param {string[]} args @param {HuskOpts} [opts] */
  huskAsync(args, opts = {}) {
    return huskAsync(args, this.callOpts(opts));
  }

  /** A fresh /tmp/<prefix>XXXX, removed at the end. */
  tmpdir(prefix = 'husk-test-') {
    return super.tmpdir('', path.join('/tmp', prefix));
  }

  /** husk state `id`, parsed; asserts it succeeds. */
  state(/** @type {string} */ id) {
    const r = this.husk(['state', id]);
    assert.equal(r.code, 0, `husk state ${id}: ${show(r)}`);
    return JSON.parse(r.stdout);
  }

  assertClean() {
    return assertClean(this);
  }
}

/** @type {WeakMap<object, TestEnv>} */
const envs = new WeakMap();

/**
 * The test's environment: { root, marker, id(name), husk(args, opts), huskAsync, tmpdir(), defer(fn),
 * state(id), assertClean() }. Made on first use; registers the cleanup hook. `runtime` (a path)
 * runs another runtime binary in place of husk for every call of this test, cleanup included.
 * @param {{ after: (fn: () => unknown) => void }} t the node:test context
 * @param {{ runtime?: string }} [opts]
 */
export function env(t, { runtime } = {}) {
  let e = envs.get(t);
  if (e) return e;
  e = new TestEnv(runtime);
  envs.set(t, e);
  const made = e;
  t.after(() => cleanup(made));
  return e;
}

/**
 * A container id unique to this test (it carries the test's marker) that cleanup will delete.
 * @param {Parameters<typeof env>[0]} t
 * @param {string} [name]
 */
export function uniqueId(t, name) {
  return env(t).id(name);
}

/** Copies the busybox rootfs into `dest` (cp -a keeps the applet symlinks). */
export function copyRootfs(/** @type {string} */ dest) {
  const r = spawnSync('cp', ['-a', ROOTFS, dest], { encoding: 'utf8' });
  assert.equal(r.status, 0, `cp -a ${ROOTFS} ${dest}: ${r.stderr}`);
  return dest;
}

/**
 * @typedef {{ dir: string, configPath: string, rootfs: string, config?: any,
 *   write: (config: any) => void }} Bundle
 * @typedef {(config: any, bundle: Bundle) => any} Mutate
 * @typedef {{ args?: string[], copyRootfs?: boolean }} BundleOpts
 */

/**
 * Writes a bundle in a fresh /tmp/husk-test-XXXX: `husk spec` output with terminal false, args
 * `opts.args` (default ["true"]), the test marker in the environment, root.path the shared
 * busybox rootfs (absolute, readonly) or a private copy with { copyRootfs: true }. `mutate(config,
 * bundle)` may change the config in place or return a new one; a string return is written as is.
 * Returns { dir, configPath, config, rootfs, write(config) }.
 * @param {Parameters<typeof env>[0]} t
 * @param {Mutate | BundleOpts} [mutate]
 * @param {BundleOpts} [opts]
 * @returns {Bundle}
 */
export function makeBundle(t, mutate, opts = {}) {
  /** @type {Mutate | undefined} */
  let edit;
  if (typeof mutate === 'function') edit = mutate;
  else if (mutate) opts = mutate;
  const e = env(t);
  const dir = e.tmpdir();
  /** @type {Bundle} */
  const bundle = {
    dir,
    configPath: path.join(dir, 'config.json'),
    rootfs: ROOTFS,
    write: (c) => {
      fs.writeFileSync(bundle.configPath, typeof c === 'string' ? c : JSON.stringify(c, null, 2) + '\n');
      bundle.config = c;
    },
  };
  if (opts.copyRootfs) bundle.rootfs = copyRootfs(path.join(dir, 'rootfs'));
  let config = runtimeSpec(HUSK);
  config.process.terminal = false;
  config.process.args = opts.args ?? ['true'];
  config.process.env.push(`HUSK_TEST_MARKER=${e.marker}`);
  config.root = { path: bundle.rootfs, readonly: true };
  if (edit) {
    const out = edit(config, bundle);
    if (out !== undefined) config = out;
  }
  bundle.write(config);
  return bundle;
}

/**
 * Runs `sh -c script` in a new container (husk run, foreground) and returns husk's result.
 * mutate and opts as makeBundle; opts.runArgs are extra flags for `run`.
 * @param {Parameters<typeof env>[0]} t
 * @param {string} script
 * @param {Mutate} [mutate]
 * @param {BundleOpts & { name?: string, runArgs?: string[], timeout?: number,
 *   stdio?: import('node:child_process').StdioOptions }} [opts]
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

/** Pids of every husk-init run from its sealed memfd (a created container's init, or a stuck one). */
export function memfdInits() {
  return new Set(memfdInitPids());
}

/** The cgroup directories named after `id` below <hierarchy>/husk/. */
export function cgroupDirsOf(/** @type {string} */ id) {
  return cgroupDirsNamed(`/husk/${id}`);
}

/** Lines of the host's mountinfo that mention any of `needles`. */
function mountsMentioning(/** @type {string[]} */ needles) {
  return mountinfoLines().filter((l) => needles.some((n) => l.includes(n)));
}

/**
 * @typedef {{ stateDirs: string[], cgroups: string[],
 *   processes: import('./core/proc.mjs').ProcInfo[], mounts: string[] }} Leftovers
 */

/**
 * Everything of the test still on the host: { stateDirs, cgroups, processes, mounts }. Processes
 * are the test's when the marker is in their cmdline, environ or cgroup (container ids carry it),
 * or their cwd or root is inside the test's directories (husk runs with its cwd in the test's
 * --root, so a husk-init that never got to pivot_root is found too).
 * @param {TestEnv} e
 * @returns {Leftovers}
 */
export function leftovers(e) {
  const stateDirs = entriesOf(e.root).map((n) => path.join(e.root, n));
  const cgroups = [...e.ids].flatMap(cgroupDirsOf);
  // Any cgroup named with the marker, even one whose id the test did not register.
  for (const c of huskCgroupsWith(e.marker)) if (!cgroups.includes(c)) cgroups.push(c);
  const mounts = mountsMentioning([e.marker, ...e.dirs]);
  const processes = processesMentioning([e.marker], e.dirs).filter((p) => !p.zombie);
  return { stateDirs, cgroups, processes, mounts };
}

function describeLeftovers(/** @type {Leftovers} */ l) {
  const parts = [];
  if (l.stateDirs.length) parts.push(`state dirs: ${l.stateDirs.join(', ')}`);
  if (l.cgroups.length) parts.push(`cgroups: ${l.cgroups.join(', ')}`);
  if (l.processes.length)
    parts.push(`processes: ${l.processes.map((p) => `${p.pid} (${p.exe}: ${p.cmdline})`).join('; ')}`);
  if (l.mounts.length) parts.push(`mounts: ${l.mounts.join(' | ')}`);
  return parts.join('\n');
}

function isEmpty(/** @type {Leftovers} */ l) {
  return !l.stateDirs.length && !l.cgroups.length && !l.processes.length && !l.mounts.length;
}

/** What is left, with processes checked once more a moment later (an exit may be on its way). */
async function settledLeftovers(/** @type {TestEnv} */ e) {
  const l = leftovers(e);
  if (!l.processes.length) return l;
  await sleep(300);
  return { ...l, processes: leftovers(e).processes };
}

/** Fails unless the test has nothing left on the host (processes are re-checked once, later). */
export async function assertClean(/** @type {TestEnv} */ e) {
  const l = await settledLeftovers(e);
  assert.ok(isEmpty(l), `left behind:\n${describeLeftovers(l)}`);
}

async function cleanup(/** @type {TestEnv} */ e) {
  const errors = await e.runDeferred();
  // Force-delete every container the test made or that is in its --root.
  const ids = new Set([...e.ids, ...entriesOf(e.root)]);
  for (const id of ids) {
    if (!fs.existsSync(path.join(e.root, id)) && !cgroupDirsOf(id).length) continue;
    const r = e.husk(['delete', '--force', id], { timeout: 20_000 });
    if (r.code !== 0 && fs.existsSync(path.join(e.root, id)))
      errors.push(`husk delete --force ${id}: ${r.stderr.trim() || show(r)}`);
  }
  const l = await settledLeftovers(e);
  if (!isEmpty(l)) errors.push(`left behind after delete --force:\n${describeLeftovers(l)}`);
  // Clean up what husk did not, so one failing test does not break the next ones.
  for (const p of l.processes) killQuietly(p.pid);
  for (const c of l.cgroups) removeCgroupTree(c);
  for (const m of l.mounts) {
    const mp = m.split(' ')[4];
    if (mp) spawnSync('umount', ['-l', mp]);
  }
  errors.push(...removeDirs(e.dirs));
  if (errors.length) assert.fail(errors.join('\n'));
}

// ---------------------------------------------------------------------------------------------
// Inside the container

// The capability list and its mask are the conformance suite's (runtime-neutral).
export const CAPABILITIES = CAPS;

/** The 16-hex-digit mask /proc/<pid>/status shows for a list of capability names. */
export function capHex(/** @type {string[]} */ names = []) {
  return capMask(names);
}
