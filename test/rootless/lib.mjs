// Helpers for the rootless tests: the tests run as root, make their own unprivileged user (with
// /etc/subuid and /etc/subgid ranges and a /run/user/<uid>), and run the runtime as that user
// through setpriv. Everything they make (the user, its subordinate ranges, its runtime dir,
// bundles, containers, processes, mounts) is removed again, also when a test fails.
// RUNTIME=/usr/sbin/runc runs the same tests against runc.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  REPO,
  ROOTFS,
  Scope,
  busyboxMissing,
  huskNotBuilt,
  killQuietly,
  mountinfo,
  mountsUnder,
  procStatus,
  removeCgroupTree as removeCgroupDir,
  removeDirs,
  runSync,
  runtimeUnderTest,
  show,
  sleep,
  waitFor as waitForEvery,
} from '../lib/core.mjs';

export { REPO, ROOTFS, show, sleep };
export const { runtime: RUNTIME, isHusk: IS_HUSK } = runtimeUnderTest();
const PREFIX = '/tmp/husk-test-rl-';
const SUB_COUNT = 65536;

function which(/** @type {string} */ cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim();
}

function readSysctl(/** @type {string} */ name) {
  try {
    return fs.readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8').trim();
  } catch {
    return null;
  }
}

async function whyNot() {
  if (process.getuid?.() !== 0)
    return 'the rootless tests make a user and need root to do so: run them as root';
  for (const c of ['useradd', 'userdel', 'setpriv', 'newuidmap', 'newgidmap'])
    if (!which(c)) return `${c} is not installed (uidmap, util-linux and passwd provide them)`;
  if (readSysctl('user.max_user_namespaces') === '0')
    return 'user namespaces are disabled (user.max_user_namespaces=0)';
  if (readSysctl('kernel.unprivileged_userns_clone') === '0')
    return 'unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0)';
  if (!fs.existsSync(RUNTIME)) return `runtime ${RUNTIME} not found`;
  const notBuilt = IS_HUSK && huskNotBuilt();
  if (notBuilt) return notBuilt;
  const noRootfs = await busyboxMissing(ROOTFS);
  if (noRootfs) return noRootfs;
  // The user must reach the runtime, its build and the rootfs.
  for (let d = ROOTFS; d !== '/'; d = path.dirname(d))
    if ((fs.statSync(d).mode & 0o001) === 0) return `${d} is not searchable by other users`;
  return false;
}

/** false when the tests can run here, else the reason (pass as { skip: SKIP }). */
export const SKIP = await whyNot();
export const HUSK_ONLY = IS_HUSK ? false : `husk's own behaviour; RUNTIME=${RUNTIME} is not husk`;

/**
 * Polls fn() every 25 ms until it returns a truthy value; throws after timeoutMs naming `what`.
 * @template T
 * @param {() => T | Promise<T>} fn
 * @param {string} what
 */
export function waitFor(fn, what, timeoutMs = 10_000) {
  return waitForEvery(fn, what, timeoutMs, 25);
}

/** Output lines with their runs of blanks made one space (uid_map and the like line up columns). */
export function lines(/** @type {string} */ text) {
  return text
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).join(' '));
}

// ---------------------------------------------------------------------------------------------
// The test user

/**
 * @typedef {object} User
 * @property {string} name
 * @property {number} uid
 * @property {number} gid
 * @property {{ start: number, count: number }} sub its subordinate uids and gids (one range)
 * @property {string} xdg its /run/user/<uid>
 * @property {() => void} remove
 */

/**
 * @typedef {{ cgroupProcs?: string, cwd?: string, env?: Record<string, string>, timeout?: number }} AsUserOpts
 */

function lineOwner(/** @type {string} */ l) {
  return l.split(':')[0];
}

// Removes the user's lines from /etc/subuid or /etc/subgid and, when `range` is given, adds one.
// Only the user's own lines change, so other tools editing the file meanwhile keep theirs.
/**
 * @param {string} file
 * @param {string} name
 * @param {{ start: number, count: number } | null} range
 */
function setSubordinate(file, name, range) {
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const kept = text.split('\n').filter((l) => l !== '' && lineOwner(l) !== name);
  if (range) kept.push(`${name}:${range.start}:${range.count}`);
  fs.writeFileSync(file, kept.length ? kept.join('\n') + '\n' : '');
}

// The first range above every range already given out, so ours maps to ids no one else has.
function freeRange() {
  let end = 100000;
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    for (const l of text.split('\n')) {
      const [, start, count] = l.split(':');
      if (start && count) end = Math.max(end, Number(start) + Number(count));
    }
  }
  return { start: Math.ceil(end / SUB_COUNT) * SUB_COUNT + SUB_COUNT, count: SUB_COUNT };
}

/**
 * Makes an unprivileged user for this test file: { name, uid, gid, sub: {start, count}, xdg,
 * remove() }. Its subordinate ids (the same range for uids and gids) and /run/user/<uid> are
 * made too; remove() takes all of it away and restores /etc/subuid and /etc/subgid.
 */
/** @returns {User} */
export function makeUser() {
  /** @type {Record<string, string|null>} */
  const snapshot = {};
  for (const f of ['/etc/subuid', '/etc/subgid'])
    snapshot[f] = fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : null;
  const name = `huskrl${crypto.randomBytes(3).toString('hex')}`;
  const r = spawnSync('useradd', ['--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', name], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `useradd ${name}: ${r.stderr}`);
  const user = /** @type {User} */ ({ name });
  try {
    user.uid = Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout.trim());
    user.gid = Number(spawnSync('id', ['-g', name], { encoding: 'utf8' }).stdout.trim());
    user.sub = freeRange();
    setSubordinate('/etc/subuid', name, user.sub);
    setSubordinate('/etc/subgid', name, user.sub);
    user.xdg = `/run/user/${user.uid}`;
    assert.ok(!fs.existsSync(user.xdg), `${user.xdg} exists already`);
    fs.mkdirSync('/run/user', { recursive: true });
    fs.mkdirSync(user.xdg, { mode: 0o700 });
    fs.chownSync(user.xdg, user.uid, user.gid);
  } catch (err) {
    removeUser(user, snapshot);
    throw err;
  }
  user.remove = () => removeUser(user, snapshot);
  return user;
}

function removeUser(/** @type {User} */ user, /** @type {Record<string, string|null>} */ snapshot) {
  const errors = [];
  killUserProcesses(user);
  if (user.xdg) fs.rmSync(user.xdg, { recursive: true, force: true });
  const r = spawnSync('userdel', [user.name], { encoding: 'utf8' });
  if (r.status !== 0) errors.push(`userdel ${user.name}: ${r.stderr}`);
  for (const f of ['/etc/subuid', '/etc/subgid']) {
    setSubordinate(f, user.name, null);
    const now = fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : null;
    if (now !== snapshot[f] && !(snapshot[f] === null && now === '')) {
      // Someone else changed the file meanwhile: keep theirs, but say so.
      process.stderr.write(`# ${f} differs from before the tests apart from ${user.name}'s lines\n`);
    }
  }
  if (errors.length) assert.fail(errors.join('\n'));
}

// ---------------------------------------------------------------------------------------------
// Processes and mounts of the user

/** Host uids a process of this user can run as: its own and its subordinate range. */
function ownsUid(/** @type {User} */ user, /** @type {number} */ uid) {
  return uid === user.uid || (uid >= user.sub.start && uid < user.sub.start + user.sub.count);
}

/** Live (non-zombie) processes running as the user or one of its subordinate ids. */
export function userProcesses(/** @type {User} */ user) {
  const out = [];
  for (const n of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    const st = procStatus(n);
    if (!st.Uid || st.State?.startsWith('Z')) continue;
    if (ownsUid(user, Number(st.Uid.split(/\s+/)[0]))) out.push(Number(n));
  }
  return out;
}

function killUserProcesses(/** @type {User} */ user) {
  if (!user.sub) return;
  for (let i = 0; i < 50; i++) {
    const pids = userProcesses(user);
    if (!pids.length) return;
    for (const p of pids) killQuietly(p);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

// ---------------------------------------------------------------------------------------------
// Running the runtime as the user

/**
 * Runs `argv` as the user (setpriv, its own groups, a small environment with XDG_RUNTIME_DIR),
 * optionally first moving the shell into cgroup.procs file `opts.cgroupProcs` (as root).
 * stdout and stderr go to files so a container that outlives the command does not hold a pipe.
 * @param {User} user
 * @param {string[]} argv
 * @param {AsUserOpts} [opts]
 */
export function asUser(user, argv, opts = {}) {
  const setpriv = ['setpriv', '--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups'];
  let cmd = [...setpriv, ...argv];
  if (opts.cgroupProcs)
    cmd = ['sh', '-c', `echo $$ > "$0" && exec "$@"`, opts.cgroupProcs, ...setpriv, ...argv];
  return runSync(cmd[0], cmd.slice(1), {
    cwd: opts.cwd ?? '/',
    env: {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/',
      USER: user.name,
      XDG_RUNTIME_DIR: user.xdg,
      ...(opts.env ?? {}),
    },
    timeout: opts.timeout,
    ioPrefix: PREFIX + 'io-',
  });
}

/** The directory the runtime keeps its state in by default for this user. */
export function defaultRoot(/** @type {User} */ user) {
  return path.join(user.xdg, IS_HUSK ? 'husk' : 'runc');
}

/** @type {any} */
let specCache = null;

/**
 * One test's environment (a Scope: marker, ids, dirs, defer) whose runtime calls run as `user`.
 */
class RootlessEnv extends Scope {
  /** @param {User} user */
  constructor(user) {
    super({ marker: `rl${crypto.randomBytes(3).toString('hex')}` });
    this.user = user;
  }

  /** A fresh directory (mode 0755), owned by `owner` ({uid, gid}) when given. */
  dir(/** @type {{ uid: number, gid: number }} */ owner) {
    const d = this.tmpdir('', PREFIX);
    fs.chmodSync(d, 0o755);
    if (owner) fs.chownSync(d, owner.uid, owner.gid);
    return d;
  }

  /**
   * Runs the runtime as the user: e.run(['run', '-b', dir, id]); opts.global: flags before the verb.
   * @param {string[]} args
   * @param {AsUserOpts & { global?: string[] }} [opts]
   */
  run(args, opts = {}) {
    return asUser(this.user, [RUNTIME, ...(opts.global ?? []), ...args], opts);
  }

  state(/** @type {string} */ id) {
    const r = this.run(['state', id]);
    return r.code === 0 ? JSON.parse(r.stdout) : null;
  }

  /**
   * A bundle of the user's: `spec --rootless` output (made by husk, as the user, so the
   * maps name the user's ids), terminal off, args `args`, root the shared busybox rootfs.
   * @param {string[]} args
   * @param {(config: any) => any} [mutate]
   */
  bundle(args, mutate) {
    const dir = this.dir(this.user);
    if (!specCache) {
      const r = asUser(this.user, [path.join(REPO, 'bin', 'husk'), 'spec', '--rootless', '--bundle', dir]);
      assert.equal(r.code, 0, `husk spec --rootless: ${show(r)}`);
      specCache = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    }
    let config = structuredClone(specCache);
    config.process.terminal = false;
    config.process.args = args;
    config.root = { path: ROOTFS, readonly: true };
    if (mutate) config = mutate(config) ?? config;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
    return dir;
  }
}

/**
 * The per-test environment: { id(name), bundle(mutate), run(args, opts), state(id), dir(owner),
 * defer(fn) }. Cleanup force-deletes the test's containers, then fails the test if a state dir,
 * a process of the user, or a mount below its directories is left.
 * @param {{ after: (fn: () => unknown) => void }} t the node:test context
 * @param {User} user
 */
export function rlEnv(t, user) {
  const e = new RootlessEnv(user);
  t.after(() => cleanup(e, user));
  return e;
}

async function cleanup(/** @type {RootlessEnv} */ e, /** @type {User} */ user) {
  const errors = await e.runDeferred();
  const root = defaultRoot(user);
  for (const id of e.ids) {
    if (!fs.existsSync(path.join(root, id))) continue;
    const r = e.run(['delete', '--force', id]);
    if (r.code !== 0) errors.push(`delete --force ${id}: ${show(r)}`);
  }
  const states = (fs.existsSync(root) ? fs.readdirSync(root) : []).filter((n) => n.startsWith(e.marker));
  if (states.length) errors.push(`state dirs left in ${root}: ${states.join(', ')}`);
  let procs = userProcesses(user);
  if (procs.length) {
    await sleep(300);
    procs = userProcesses(user);
  }
  if (procs.length) {
    errors.push(`processes of ${user.name} left: ${procs.join(', ')}`);
    killUserProcesses(user);
  }
  const mounts = mountsUnder(e.dirs);
  if (mounts.length) errors.push(`mounts left: ${mounts.map((m) => m.line).join(' | ')}`);
  errors.push(...removeDirs(e.dirs));
  for (const id of e.ids) fs.rmSync(path.join(root, id), { recursive: true, force: true });
  if (errors.length) assert.fail(errors.join('\n'));
}

/** Where the cgroup2 hierarchy is mounted on this host (null: none). */
export function cgroup2Mount() {
  return mountinfo().find((m) => m.fstype === 'cgroup2')?.mountpoint ?? null;
}

/** Removes a cgroup directory and its children, killing what is in them (EBUSY retried). */
export function removeCgroupTree(/** @type {string} */ dir) {
  if (!removeCgroupDir(dir)) throw new Error(`could not remove cgroup ${dir}`);
}
