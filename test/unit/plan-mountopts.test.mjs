// src/plan/mountopts.ts: every mount option string onto mount(2) flags (set or cleared),
// propagation, or fs data. The numbers are the kernel's (linux/mount.h), written out here so a
// wrong constant in the module fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, throwsHusk } from './helpers.mjs';

const { parseMountOptions, MS, PROPAGATION } = load('plan/mountopts.js');

const K = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  SYNCHRONOUS: 16,
  REMOUNT: 32,
  MANDLOCK: 64,
  DIRSYNC: 128,
  NOSYMFOLLOW: 256,
  NOATIME: 1024,
  NODIRATIME: 2048,
  BIND: 4096,
  REC: 16384,
  SILENT: 32768,
  UNBINDABLE: 131072,
  PRIVATE: 262144,
  SLAVE: 524288,
  SHARED: 1048576,
  RELATIME: 2097152,
  STRICTATIME: 16777216,
  LAZYTIME: 33554432,
};

test('the MS constants are the kernel values', () => {
  for (const [name, value] of Object.entries(K)) assert.equal(MS[name], value, `MS.${name}`);
});

const SETTING = {
  ro: K.RDONLY,
  nosuid: K.NOSUID,
  nodev: K.NODEV,
  noexec: K.NOEXEC,
  sync: K.SYNCHRONOUS,
  remount: K.REMOUNT,
  mand: K.MANDLOCK,
  dirsync: K.DIRSYNC,
  nosymfollow: K.NOSYMFOLLOW,
  noatime: K.NOATIME,
  nodiratime: K.NODIRATIME,
  bind: K.BIND,
  rbind: K.BIND | K.REC,
  silent: K.SILENT,
  relatime: K.RELATIME,
  strictatime: K.STRICTATIME,
  lazytime: K.LAZYTIME,
};

for (const [opt, flag] of Object.entries(SETTING)) {
  test(`option "${opt}" sets flag ${flag} and nothing else`, () => {
    const p = parseMountOptions([opt]);
    assert.equal(p.flags, flag);
    assert.equal(p.propagation, 0);
    assert.deepEqual(p.data, []);
  });
}

// Each clearing option undoes the flag its partner set, and only that flag.
const CLEARING = {
  rw: 'ro',
  suid: 'nosuid',
  dev: 'nodev',
  exec: 'noexec',
  async: 'sync',
  nomand: 'mand',
  atime: 'noatime',
  diratime: 'nodiratime',
  norelatime: 'relatime',
  nostrictatime: 'strictatime',
  nolazytime: 'lazytime',
  loud: 'silent',
};
const ALL_SET = Object.keys(SETTING).filter((o) => o !== 'rbind');
const ALL_FLAGS = ALL_SET.reduce((n, o) => n | SETTING[o], 0);

for (const [opt, partner] of Object.entries(CLEARING)) {
  test(`option "${opt}" clears what "${partner}" set`, () => {
    const p = parseMountOptions([...ALL_SET, opt]);
    assert.equal(p.flags, ALL_FLAGS & ~SETTING[partner]);
    assert.deepEqual(p.data, []);
    // Clearing before setting leaves the flag set: options apply left to right.
    assert.equal(parseMountOptions([opt, partner]).flags, SETTING[partner]);
  });
}

test('"defaults" changes nothing and is not passed as data', () => {
  const p = parseMountOptions(['nosuid', 'defaults', 'nodev']);
  assert.equal(p.flags, K.NOSUID | K.NODEV);
  assert.deepEqual(p.data, []);
});

test('the last of ro/rw wins', () => {
  assert.equal(parseMountOptions(['ro', 'rw']).flags, 0);
  assert.equal(parseMountOptions(['rw', 'ro']).flags, K.RDONLY);
});

const PROP = {
  private: K.PRIVATE,
  rprivate: K.PRIVATE | K.REC,
  shared: K.SHARED,
  rshared: K.SHARED | K.REC,
  slave: K.SLAVE,
  rslave: K.SLAVE | K.REC,
  unbindable: K.UNBINDABLE,
  runbindable: K.UNBINDABLE | K.REC,
};

for (const [opt, value] of Object.entries(PROP)) {
  test(`propagation "${opt}" goes to propagation, not flags`, () => {
    const p = parseMountOptions([opt]);
    assert.equal(p.propagation, value);
    assert.equal(p.flags, 0);
    assert.equal(p.recursive, false, 'a recursive propagation does not make the mount itself recursive');
    assert.deepEqual(p.data, []);
    assert.equal(PROPAGATION[opt], value);
  });
}

test('the last propagation option wins', () => {
  assert.equal(parseMountOptions(['rshared', 'private']).propagation, K.PRIVATE);
  assert.equal(parseMountOptions(['private', 'rslave']).propagation, K.SLAVE | K.REC);
});

test('bind and rbind: bind and recursive', () => {
  assert.deepEqual(parseMountOptions(['bind']), {
    flags: K.BIND,
    propagation: 0,
    data: [],
    bind: true,
    recursive: false,
  });
  assert.deepEqual(parseMountOptions(['rbind', 'rprivate', 'ro']), {
    flags: K.BIND | K.REC | K.RDONLY,
    propagation: K.PRIVATE | K.REC,
    data: [],
    bind: true,
    recursive: true,
  });
  const plain = parseMountOptions(['nosuid']);
  assert.equal(plain.bind, false);
  assert.equal(plain.recursive, false);
});

test('unknown options go to data, in order', () => {
  const p = parseMountOptions(['nosuid', 'mode=755', 'size=65536k', 'newinstance', 'ptmxmode=0666', 'gid=5']);
  assert.equal(p.flags, K.NOSUID);
  assert.deepEqual(p.data, ['mode=755', 'size=65536k', 'newinstance', 'ptmxmode=0666', 'gid=5']);
});

test('tmpcopyup, idmap and ridmap are neither flags nor data', () => {
  const p = parseMountOptions(['tmpcopyup', 'idmap', 'ridmap', 'x=1']);
  assert.equal(p.flags, 0);
  assert.equal(p.propagation, 0);
  assert.deepEqual(p.data, ['x=1']);
});

test('no options (undefined or empty) is all zero', () => {
  for (const given of [undefined, []])
    assert.deepEqual(parseMountOptions(given), {
      flags: 0,
      propagation: 0,
      data: [],
      bind: false,
      recursive: false,
    });
});

for (const attr of [
  'rro',
  'rrw',
  'rnosuid',
  'rsuid',
  'rnodev',
  'rdev',
  'rnoexec',
  'rexec',
  'ratime',
  'rnoatime',
]) {
  test(`recursive attribute "${attr}" is rejected with the option's pointer`, () => {
    throwsHusk(
      () => parseMountOptions(['nosuid', 'ro', attr], '/mounts/4'),
      new RegExp(`^/mounts/4/options/2: recursive mount attribute "${attr}"`),
    );
  });
}

test('the pointer defaults to /mounts', () => {
  throwsHusk(() => parseMountOptions(['rro']), /^\/mounts\/options\/0: /);
});

test('option names that are Object.prototype keys are fs data, not silently dropped', () => {
  const p = parseMountOptions(['constructor', 'toString', '__proto__', 'hasOwnProperty']);
  assert.equal(p.flags, 0);
  assert.deepEqual(p.data, ['constructor', 'toString', '__proto__', 'hasOwnProperty']);
});
