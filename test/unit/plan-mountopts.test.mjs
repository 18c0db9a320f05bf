// src/plan/mountopts.ts: every mount option string onto mount(2) flags (set or cleared),
// propagation, or fs data. The numbers are the kernel's (linux/mount.h), written out here so a
// wrong constant in the module fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './helpers.mjs';

const { parseMountOptions, knownMountOptions, MS, PROPAGATION } = load('plan/mountopts.js');

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
    attrSet: 0,
    attrClr: 0,
    idmap: null,
    copyup: false,
  });
  assert.deepEqual(parseMountOptions(['rbind', 'rprivate', 'ro']), {
    flags: K.BIND | K.REC | K.RDONLY,
    propagation: K.PRIVATE | K.REC,
    data: [],
    bind: true,
    recursive: true,
    attrSet: 0,
    attrClr: 0,
    idmap: null,
    copyup: false,
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
  assert.equal(p.copyup, true);
  assert.equal(parseMountOptions(['x=1']).copyup, false);
});

test('no options (undefined or empty) is all zero', () => {
  for (const given of [undefined, []])
    assert.deepEqual(parseMountOptions(given), {
      flags: 0,
      propagation: 0,
      data: [],
      bind: false,
      recursive: false,
      attrSet: 0,
      attrClr: 0,
      idmap: null,
      copyup: false,
    });
});

// mount_setattr(2) attribute bits (linux/mount.h).
const A = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  ATIME: 0x70,
  NOATIME: 0x10,
  STRICTATIME: 0x20,
};
const A_NODIRATIME = 0x80;
const A_NOSYMFOLLOW = 0x200000;

test('recursive attributes: each sets or clears its mount_setattr bit, nothing of mount(2)', () => {
  const table = {
    rro: [A.RDONLY, 0],
    rrw: [0, A.RDONLY],
    rnosuid: [A.NOSUID, 0],
    rsuid: [0, A.NOSUID],
    rnodev: [A.NODEV, 0],
    rdev: [0, A.NODEV],
    rnoexec: [A.NOEXEC, 0],
    rexec: [0, A.NOEXEC],
    rnodiratime: [A_NODIRATIME, 0],
    rdiratime: [0, A_NODIRATIME],
    rnosymfollow: [A_NOSYMFOLLOW, 0],
    rsymfollow: [0, A_NOSYMFOLLOW],
    // The atime field is replaced whole: its bits are always cleared, and one value set.
    rrelatime: [0, A.ATIME],
    ratime: [0, A.ATIME],
    rnostrictatime: [0, A.ATIME],
    rnoatime: [A.NOATIME, A.ATIME],
    rstrictatime: [A.STRICTATIME, A.ATIME],
    rnorelatime: [A.STRICTATIME, A.ATIME],
  };
  for (const [opt, [set, clr]] of Object.entries(table)) {
    const p = parseMountOptions(['nosuid', opt]);
    assert.deepEqual([p.attrSet, p.attrClr], [set, clr], opt);
    assert.equal(p.flags, K.NOSUID, `${opt} changes no mount(2) flag`);
    assert.deepEqual(p.data, [], `${opt} is not fs data`);
  }
});

test('recursive attributes: the later option wins; they add up', () => {
  let p = parseMountOptions(['rro', 'rrw']);
  assert.deepEqual([p.attrSet, p.attrClr], [0, A.RDONLY]);
  p = parseMountOptions(['rrw', 'rro', 'rnosuid', 'rnoexec']);
  assert.deepEqual([p.attrSet, p.attrClr], [A.RDONLY | A.NOSUID | A.NOEXEC, 0]);
  p = parseMountOptions(['rnoatime', 'rstrictatime', 'rnodev']);
  assert.deepEqual([p.attrSet, p.attrClr], [A.STRICTATIME | A.NODEV, A.ATIME]);
});

test('idmap and ridmap are noted', () => {
  assert.equal(parseMountOptions(['rbind', 'idmap']).idmap, 'idmap');
  assert.equal(parseMountOptions(['ridmap']).idmap, 'ridmap');
});

test('knownMountOptions lists the recursive attributes (husk features)', () => {
  const known = knownMountOptions();
  for (const o of [
    'rro',
    'rrw',
    'rnosuid',
    'rsuid',
    'rnodev',
    'rdev',
    'rnoexec',
    'rexec',
    'rnodiratime',
    'rdiratime',
    'rrelatime',
    'rnorelatime',
    'rnoatime',
    'ratime',
    'rstrictatime',
    'rnostrictatime',
    'rnosymfollow',
    'rsymfollow',
  ])
    assert.ok(known.includes(o), o);
});

test('option names that are Object.prototype keys are fs data, not silently dropped', () => {
  const p = parseMountOptions(['constructor', 'toString', '__proto__', 'hasOwnProperty']);
  assert.equal(p.flags, 0);
  assert.deepEqual(p.data, ['constructor', 'toString', '__proto__', 'hasOwnProperty']);
});
