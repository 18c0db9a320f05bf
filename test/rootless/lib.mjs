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
import { drain, scratchFd } from '../lib/scratch-io.mjs';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RUNTIME = process.env.RUNTIME
  ? path.resolve(process.env.RUNTIME)
  : path.join(REPO, 'bin', 'husk');
export const IS_HUSK = !process.env.RUNTIME || /husk/.test(path.basename(RUNTIME));
export const ROOTFS = path.join(REPO, 'examples', 'busybox', 'rootfs');
const PREFIX = '/tmp/husk-test-rl-';
const SUB_COUNT = 65536;

function which(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim();
}

function readSysctl(name) {
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
  if (IS_HUSK && !fs.existsSync(path.join(REPO, 'dist', 'husk.js')))
    return `husk is not built: run \`npm run build\` in ${REPO}`;
  try {
    const { ensureRootfs } = await import(path.join(REPO, 'scripts', 'ensure-rootfs.mjs'));
    ensureRootfs(ROOTFS);
  } catch (err) {
    return `no busybox rootfs: ${err.message}`;
  }
  // The user must reach the runtime, its build and the rootfs.
  for (let d = ROOTFS; d !== '/'; d = path.dirname(d))
    if ((fs.statSync(d).mode & 0o001) === 0) return `${d} is not searchable by other users`;
  return false;
}

/** false when the tests can run here, else the reason (pass as { skip: SKIP }). */
export const SKIP = await whyNot();
export const HUSK_ONLY = IS_HUSK ? false : `husk's own behaviour; RUNTIME=${RUNTIME} is not husk`;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(fn, what, timeoutMs = 10_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** Output lines with their runs of blanks made one space (uid_map and the like line up columns). */
export function lines(text) {
  return text
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).join(' '));
}

export function show(r) {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

// ---------------------------------------------------------------------------------------------
// The test user

function lineOwner(l) {
  return l.split(':')[0];
}

// Removes the user's lines from /etc/subuid or /etc/subgid and, when `range` is given, adds one.
// Only the user's own lines change, so other tools editing the file meanwhile keep theirs.
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
export function makeUser() {
  const snapshot = {};
  for (const f of ['/etc/subuid', '/etc/subgid'])
    snapshot[f] = fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : null;
  const name = `huskrl${crypto.randomBytes(3).toString('hex')}`;
  const r = spawnSync('useradd', ['--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', name], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `useradd ${name}: ${r.stderr}`);
  const user = { name, made: [] };
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

function removeUser(user, snapshot) {
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

function statusOf(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return '';
  }
}

/** Host uids a process of this user can run as: its own and its subordinate range. */
function ownsUid(user, uid) {
  return uid === user.uid || (uid >= user.sub.start && uid < user.sub.start + user.sub.count);
}

/** Live (non-zombie) processes running as the user or one of its subordinate ids. */
export function userProcesses(user) {
  const out = [];
  for (const n of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    const st = statusOf(n);
    const uid = /^Uid:\s+(\d+)/m.exec(st);
    const state = /^State:\s+(\S)/m.exec(st);
    if (!uid || state?.[1] === 'Z') continue;
    if (ownsUid(user, Number(uid[1]))) out.push(Number(n));
  }
  return out;
}

function killUserProcesses(user) {
  if (!user.sub) return;
  for (let i = 0; i < 50; i++) {
    const pids = userProcesses(user);
    if (!pids.length) return;
    for (const p of pids)
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

function mountsUnder(dirs) {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l && dirs.some((d) => l.includes(` ${d} `) || l.includes(` ${d}/`)));
}

// ---------------------------------------------------------------------------------------------
// Running the runtime as the user

/**
 * Runs `argv` as the user (setpriv, its own groups, a small environment with XDG_RUNTIME_DIR),
 * optionally first moving the shell into cgroup.procs file `opts.cgroupProcs` (as root).
 * stdout and stderr go to files so a container that outlives the command does not hold a pipe.
 */
export function asUser(user, argv, opts = {}) {
  const files = [scratchFd(PREFIX + 'io-'), scratchFd(PREFIX + 'io-')];
  const setpriv = ['setpriv', '--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups'];
  let cmd = [...setpriv, ...argv];
  if (opts.cgroupProcs)
    cmd = ['sh', '-c', `echo $$ > "$0" && exec "$@"`, opts.cgroupProcs, ...setpriv, ...argv];
  let r;
  let stdout = '';
  let stderr = '';
  try {
    r = spawnSync(cmd[0], cmd.slice(1), {
      cwd: opts.cwd ?? '/',
      env: {
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        HOME: '/',
        USER: user.name,
        XDG_RUNTIME_DIR: user.xdg,
        ...(opts.env ?? {}),
      },
      stdio: ['ignore', files[0], files[1]],
      timeout: opts.timeout ?? 30_000,
      killSignal: 'SIGKILL',
    });
  } finally {
    stdout = drain(files[0]);
    stderr = drain(files[1]);
  }
  if (r.error && r.error.code !== 'ETIMEDOUT') throw r.error;
  return { code: r.status, signal: r.signal, stdout, stderr, timedOut: r.error?.code === 'ETIMEDOUT' };
}

/** The directory the runtime keeps its state in by default for this user. */
export function defaultRoot(user) {
  return path.join(user.xdg, IS_HUSK ? 'husk' : 'runc');
}

let specCache = null;

/**
 * The per-test environment: { id(name), bundle(mutate), run(args, opts), state(id), dir(owner),
 * defer(fn) }. Cleanup force-deletes the test's containers, then fails the test if a state dir,
 * a process of the user, or a mount below its directories is left.
 */
export function rlEnv(t, user) {
  const marker = `rl${crypto.randomBytes(3).toString('hex')}`;
  const e = {
    marker,
    ids: new Set(),
    dirs: [],
    deferred: [],
    id(name = 'c') {
      const id = `${marker}-${name}`;
      e.ids.add(id);
      return id;
    },
    /** A fresh directory (mode 0755), owned by `owner` ({uid, gid}) when given. */
    dir(owner) {
      const d = fs.mkdtempSync(PREFIX);
      e.dirs.push(d);
      fs.chmodSync(d, 0o755);
      if (owner) fs.chownSync(d, owner.uid, owner.gid);
      return d;
    },
    defer(fn) {
      e.deferred.push(fn);
    },
    /** Runs the runtime as the user: e.run(['run', '-b', dir, id]). */
    run(args, opts = {}) {
      return asUser(user, [RUNTIME, ...(opts.global ?? []), ...args], opts);
    },
    state(id) {
      const r = e.run(['state', id]);
      return r.code === 0 ? JSON.parse(r.stdout) : null;
    },
    /**
     * A bundle of the user's: `spec --rootless` output (made by husk, as the user, so the
     * maps name the user's ids), terminal off, args `args`, root the shared busybox rootfs.
     */
    bundle(args, mutate) {
      const dir = e.dir(user);
      if (!specCache) {
        const r = asUser(user, [path.join(REPO, 'bin', 'husk'), 'spec', '--rootless', '--bundle', dir]);
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
    },
  };
  t.after(() => cleanup(e, user));
  return e;
}

async function cleanup(e, user) {
  const errors = [];
  for (const fn of e.deferred.reverse())
    try {
      await fn();
    } catch (err) {
      errors.push(`cleanup: ${err.message}`);
    }
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
  if (mounts.length) errors.push(`mounts left: ${mounts.join(' | ')}`);
  for (const d of e.dirs) if (!mountsUnder([d]).length) fs.rmSync(d, { recursive: true, force: true });
  for (const id of e.ids) fs.rmSync(path.join(root, id), { recursive: true, force: true });
  if (errors.length) assert.fail(errors.join('\n'));
}

/** Where the cgroup2 hierarchy is mounted on this host (null: none). */
export function cgroup2Mount() {
  for (const l of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = l.split(' - ');
    if (post?.startsWith('cgroup2 ')) return pre.split(' ')[4];
  }
  return null;
}

/** Removes a cgroup directory and its children, killing what is in them (EBUSY retried). */
export function removeCgroupTree(dir) {
  if (!fs.existsSync(dir)) return;
  for (const sub of fs.readdirSync(dir, { withFileTypes: true }))
    if (sub.isDirectory()) removeCgroupTree(path.join(dir, sub.name));
  for (let i = 0; i < 100; i++) {
    for (const p of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean))
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        /* gone */
      }
    try {
      fs.rmdirSync(dir);
      return;
    } catch (err) {
      if (err.code !== 'EBUSY') throw err;
    }
    spawnSync('sleep', ['0.02']);
  }
}
