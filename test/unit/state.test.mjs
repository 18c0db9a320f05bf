// src/state/id.ts, src/state/store.ts, src/state/status.ts and src/runtime/signals.ts. The
// store runs in a temp dir; its locks use the addon's flock, which needs no root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { load, throwsHusk } from './helpers.mjs';

const { checkId } = load('state/id.js');
const { Store, writeAtomic } = load('state/store.js');
const { startTimeOf, statusOf, initAlive } = load('state/status.js');
const { parseSignal } = load('runtime/signals.js');
const { native } = load('native/index.js');

function tmpdir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-unit-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// --- ids --------------------------------------------------------------------------------------

test('checkId accepts the safe alphabet up to 255 characters', () => {
  for (const id of ['abc', 'A1', 'a.b-c_d+e', '0', 'x'.repeat(255), 'c..d']) assert.equal(checkId(id), id);
});

test('checkId rejects empty, dot names, separators, odd characters, overlong ids', () => {
  throwsHusk(() => checkId(''), /^container id must not be empty$/);
  throwsHusk(() => checkId(undefined), /must not be empty/);
  throwsHusk(() => checkId(12), /must not be empty/);
  throwsHusk(() => checkId('x'.repeat(256)), /longer than 255 characters/);
  for (const id of ['.', '..', 'a/b', '../x', '/abs', 'a b', 'é', 'a:b', 'a\nb', 'a\\b'])
    throwsHusk(() => checkId(id), /^invalid container id ".*": use only letters, digits and _ \+ \. -$/);
  const e = throwsHusk(() => checkId('a\x01\x1fb'));
  assert.match(e.message, /"a\?\?b"/, 'control characters are not echoed');
});

// --- the store --------------------------------------------------------------------------------

const record = (id, extra = {}) => ({
  ociVersion: '1.3.0',
  id,
  pid: 4242,
  startTime: '123456',
  bundle: '/b',
  rootfs: '/b/rootfs',
  created: '2024-01-01T00:00:00.000Z',
  owner: 'root',
  annotations: { 'org.example/k': 'v' },
  cgroupDirs: ['/sys/fs/cgroup/husk/c1'],
  freezerDir: null,
  namespaces: { pid: '', network: '/run/netns/x' },
  ...extra,
});

test('claim makes the directory (and --root) once; a second claim says "already exists"', (t) => {
  const root = path.join(tmpdir(t), 'nested', 'root');
  const store = new Store(root);
  const lock = store.claim('c1');
  try {
    assert.ok(fs.statSync(path.join(root, 'c1')).isDirectory());
    assert.equal(fs.statSync(root).mode & 0o777, 0o711 & ~process.umask());
    assert.equal(store.exists('c1'), true);
    throwsHusk(() => store.claim('c1'), /^container c1 already exists$/);
  } finally {
    lock.release();
  }
  lock.release(); // twice is harmless
  throwsHusk(() => store.claim('c1'), /already exists/);
  throwsHusk(() => store.claim('../escape'), /invalid container id/);
  assert.equal(fs.existsSync(path.join(root, '..', 'escape')), false);
});

test('a claimed container is locked: another flock on it would block until release', (t) => {
  const store = new Store(tmpdir(t));
  const lock = store.claim('c1');
  const fd = fs.openSync(store.dir('c1'), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    const LOCK_EX_NB = 2 | 4;
    assert.equal(native().flock(fd, LOCK_EX_NB), false, 'held by the claim');
    lock.release();
    assert.equal(native().flock(fd, LOCK_EX_NB), true, 'free after release');
    native().flock(fd, 8);
    const again = store.lock('c1');
    assert.equal(native().flock(fd, LOCK_EX_NB), false, 'held by lock()');
    again.release();
  } finally {
    fs.closeSync(fd);
  }
});

test('lock: a missing container, and a symlink in place of the directory, are refused', (t) => {
  const root = tmpdir(t);
  const store = new Store(root);
  throwsHusk(() => store.lock('nope'), /^container nope does not exist$/);
  fs.mkdirSync(path.join(root, 'elsewhere'));
  fs.symlinkSync(path.join(root, 'elsewhere'), path.join(root, 'link'));
  throwsHusk(() => store.lock('link'), /is not a directory/);
});

test('write then read gives the record back; no state yet reads as null', (t) => {
  const store = new Store(tmpdir(t));
  store.claim('c1').release();
  assert.equal(store.read('c1'), null);
  const rec = record('c1');
  store.write(rec);
  assert.deepEqual(store.read('c1'), rec);
  const changed = { ...rec, pid: 99 };
  store.write(changed);
  assert.deepEqual(store.read('c1'), changed);
  assert.equal(fs.statSync(path.join(store.dir('c1'), 'state.json')).mode & 0o777, 0o600);
});

test('a write leaves no temporary file behind', (t) => {
  const store = new Store(tmpdir(t));
  store.claim('c1').release();
  store.write(record('c1'));
  store.write(record('c1', { pid: 5 }));
  assert.deepEqual(fs.readdirSync(store.dir('c1')), ['state.json']);
  const file = path.join(store.dir('c1'), 'other.json');
  writeAtomic(file, 'x', 0o640);
  assert.equal(fs.readFileSync(file, 'utf8'), 'x');
  assert.equal(fs.statSync(file).mode & 0o777, 0o640 & ~process.umask());
  assert.deepEqual(fs.readdirSync(store.dir('c1')).sort(), ['other.json', 'state.json']);
});

test('a prepared record replaces the one in place at commit, and only then', (t) => {
  const store = new Store(tmpdir(t));
  store.claim('c1').release();
  store.write(record('c1', { pid: 0 }));
  const ready = store.prepare(record('c1', { pid: 7 }));
  assert.equal(store.read('c1').pid, 0);
  ready.commit();
  assert.equal(store.read('c1').pid, 7);
  assert.deepEqual(fs.readdirSync(store.dir('c1')), ['state.json']);
  assert.equal(fs.statSync(path.join(store.dir('c1'), 'state.json')).mode & 0o777, 0o600);
});

test('writeAtomic to a path the caller gave never moves a directory there aside', (t) => {
  const dir = tmpdir(t);
  const target = path.join(dir, 'pidfile');
  fs.mkdirSync(target);
  assert.throws(() => writeAtomic(target, '1'), /write .*pidfile/);
  assert.ok(fs.statSync(target).isDirectory());
  assert.deepEqual(fs.readdirSync(dir), ['pidfile']);
});

test('an unreadable state file is an error naming the container', (t) => {
  const store = new Store(tmpdir(t));
  store.claim('c1').release();
  fs.writeFileSync(path.join(store.dir('c1'), 'state.json'), '{ half');
  throwsHusk(() => store.read('c1'), /^container c1: unreadable state: /);
});

test('ids() is sorted, lists directories only, skips dot-directories', (t) => {
  const root = tmpdir(t);
  const store = new Store(root);
  for (const id of ['zeta', 'alpha', 'Mid', '10']) store.claim(id).release();
  fs.mkdirSync(path.join(root, '.tmp-dir'));
  fs.writeFileSync(path.join(root, 'a-file'), '');
  assert.deepEqual(store.ids(), ['10', 'Mid', 'alpha', 'zeta']);
  assert.deepEqual(new Store(path.join(root, 'missing')).ids(), []);
});

test('remove deletes the container directory and what is in it', (t) => {
  const store = new Store(tmpdir(t));
  store.claim('c1').release();
  store.write(record('c1'));
  fs.writeFileSync(path.join(store.dir('c1'), 'exec.fifo'), '');
  store.remove('c1');
  assert.equal(store.exists('c1'), false);
  assert.equal(store.read('c1'), null);
  assert.doesNotThrow(() => store.remove('c1'), 'removing twice is fine');
  assert.deepEqual(store.ids(), []);
});

test('every id claim() accepts is listed by ids()', (t) => {
  const store = new Store(tmpdir(t));
  let claimed = false;
  try {
    store.claim('.hidden').release();
    claimed = true;
  } catch (e) {
    assert.equal(e.name, 'HuskError');
  }
  if (claimed) assert.deepEqual(store.ids(), ['.hidden']);
});

// --- status -----------------------------------------------------------------------------------

// Field 22 of /proc/<pid>/stat, read here independently.
function field22(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat
    .slice(stat.lastIndexOf(')') + 1)
    .trim()
    .split(/\s+/)[19];
}

test('startTimeOf: our own start time, as in /proc/<pid>/stat field 22', () => {
  const st = startTimeOf(process.pid);
  assert.equal(typeof st, 'string');
  assert.match(st, /^\d+$/);
  assert.equal(st, field22(process.pid));
  assert.equal(startTimeOf(1) === null, false, 'pid 1 is alive');
});

test('startTimeOf: a dead pid, and one that cannot exist, are null', () => {
  const done = spawnSync(process.execPath, ['-e', '0']);
  assert.equal(done.status, 0);
  assert.equal(startTimeOf(done.pid), null);
  assert.equal(startTimeOf(2 ** 22 + 1), null);
  assert.equal(startTimeOf(-1), null);
});

test('startTimeOf: a comm with spaces and parentheses does not shift the fields', async (t) => {
  const dir = tmpdir(t);
  const weird = path.join(dir, 'a) b (c');
  fs.symlinkSync(process.execPath, weird);
  const child = spawn(weird, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  await new Promise((r) => child.once('spawn', r));
  // Wait until the exec has happened (comm is the new name).
  for (let i = 0; i < 200 && !fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').includes('(a) b (c)'); i++)
    await new Promise((r) => setTimeout(r, 10));
  assert.ok(fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').includes('(a) b (c)'));
  assert.equal(startTimeOf(child.pid), field22(child.pid));
  assert.match(startTimeOf(child.pid), /^\d+$/);
});

test('statusOf: wrong start time means stopped, even if the pid is alive', (t) => {
  const dir = tmpdir(t);
  const me = startTimeOf(process.pid);
  const rec = record('c1', { pid: process.pid, startTime: String(Number(me) + 1) });
  assert.equal(initAlive(rec), false);
  assert.equal(statusOf(rec, dir), 'stopped');
  assert.equal(statusOf(record('c1', { pid: 0, startTime: me }), dir), 'stopped');
  assert.equal(statusOf(record('c1', { pid: -1, startTime: me }), dir), 'stopped');
});

test('statusOf: alive with exec.fifo is created, without it running, frozen is paused', (t) => {
  const dir = tmpdir(t);
  const me = startTimeOf(process.pid);
  const rec = record('c1', { pid: process.pid, startTime: me });
  assert.equal(initAlive(rec), true);
  assert.equal(statusOf(rec, dir), 'running');
  fs.writeFileSync(path.join(dir, 'exec.fifo'), '');
  assert.equal(statusOf(rec, dir), 'created');
  fs.rmSync(path.join(dir, 'exec.fifo'));

  const v1 = path.join(dir, 'freezer.state');
  fs.writeFileSync(v1, 'FROZEN\n');
  assert.equal(statusOf({ ...rec, freezerDir: v1 }, dir), 'paused');
  fs.writeFileSync(v1, 'FREEZING\n');
  assert.equal(statusOf({ ...rec, freezerDir: v1 }, dir), 'paused');
  fs.writeFileSync(v1, 'THAWED\n');
  assert.equal(statusOf({ ...rec, freezerDir: v1 }, dir), 'running');

  const v2 = path.join(dir, 'cgroup.freeze');
  fs.writeFileSync(v2, '1\n');
  assert.equal(statusOf({ ...rec, freezerDir: v2 }, dir), 'paused');
  fs.writeFileSync(v2, '0\n');
  assert.equal(statusOf({ ...rec, freezerDir: v2 }, dir), 'running');
  assert.equal(statusOf({ ...rec, freezerDir: path.join(dir, 'gone') }, dir), 'running');
});

// --- signals ----------------------------------------------------------------------------------

test('parseSignal: names with or without SIG, any case, numbers', () => {
  const cases = [
    [undefined, 15],
    ['', 15],
    ['KILL', 9],
    ['SIGKILL', 9],
    ['kill', 9],
    ['sigkill', 9],
    ['SigTerm', 15],
    ['9', 9],
    [9, 9],
    [' 2 ', 2],
    ['HUP', 1],
    ['USR1', 10],
    ['CHLD', 17],
    ['WINCH', 28],
    ['1', 1],
    ['64', 64],
  ];
  for (const [given, want] of cases) assert.equal(parseSignal(given), want, JSON.stringify(given));
});

test('parseSignal: real-time signals', () => {
  assert.equal(parseSignal('RTMIN'), 34);
  assert.equal(parseSignal('RTMIN+1'), 35);
  assert.equal(parseSignal('SIGRTMIN+2'), 36);
  assert.equal(parseSignal('rtmin+30'), 64);
  assert.equal(parseSignal('RTMAX'), 64);
  assert.equal(parseSignal('sigrtmax-1'), 63);
  assert.equal(parseSignal('RTMAX-30'), 34);
});

test('parseSignal: 0 is "is it alive", as kill(2) and runc take it', () => {
  assert.equal(parseSignal('0'), 0);
});

test('parseSignal: bad names and numbers', () => {
  for (const s of ['65', '100', '-9', '1.5', '0x9'])
    throwsHusk(() => parseSignal(s), /^(invalid signal|unknown signal)/);
  throwsHusk(() => parseSignal('65'), /^invalid signal 65$/);
  for (const s of ['SIGFOO', 'KILLL', 'RTMIN+', 'RTMAX+1', 'SIG', 'RTMIN-1'])
    throwsHusk(() => parseSignal(s), new RegExp(`^unknown signal "${s.replace(/[+]/g, '\\+')}"$`));
});

test('parseSignal: real-time offsets beyond the range are rejected', () => {
  for (const s of ['RTMIN+31', 'RTMIN+40', 'RTMAX-31', 'RTMAX-40'])
    throwsHusk(() => parseSignal(s), /signal/);
});
