// src/plan/rootfs.ts and src/plan/devices.ts: the container's filesystem as ops. Assertions are
// on the op sequence (names and the key `show` fields) and on the fields husk-init reads for
// the ops where a wrong number would matter (flags, dev_t, modes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  load,
  hostV1,
  hostV2,
  hostHybrid,
  fixtures,
  skipFixtures,
  throwsHusk,
  names,
  clone,
} from './helpers.mjs';

const { planRootfs, planProtections, rootfsPath } = load('plan/rootfs.js');
const { planDevices, makedev } = load('plan/devices.js');
const { planCgroups } = load('plan/cgroups.js');
const { defaultSpec } = load('spec/default-config.js');

const RDONLY = 1;
const NOSUID = 2;
const NODEV = 4;
const NOEXEC = 8;
const BIND = 4096;
const REC = 16384;
const UNBINDABLE = 1 << 17;
const PRIVATE = 1 << 18;
const SLAVE = 1 << 19;
const SHARED = 1 << 20;
const RELATIME = 1 << 21;
const STRICTATIME = 1 << 24;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

function ctxFor(spec, host, { cgroupNs = false, id = 'c1', bundle = '/b', kcore } = {}) {
  const h = kcore === undefined ? host : { ...host, kcore };
  return {
    bundle,
    host: h,
    cgroups: planCgroups(spec, h, id),
    cgroupNs,
    userNs: false,
    noPivot: false,
    rootUid: 0,
    rootGid: 0,
  };
}

// One line per op: what a reader of `husk plan` would look for.
function line(o) {
  const s = o.show;
  switch (o.op) {
    case 'MOUNT':
      return s.type === 'bind' ? `MOUNT bind ${s.source} ${s.dest}` : `MOUNT ${s.type} ${s.dest}`;
    case 'MOUNT_CGROUP_V1':
      return `MOUNT_CGROUP_V1 ${s.dest} ${s.controllers.join(',')}${s.bind ? ` from ${s.bind}` : ''}`;
    case 'MKNOD':
      return `MKNOD ${s.path}`;
    case 'SYMLINK':
      return `SYMLINK ${s.link} -> ${s.target}`;
    case 'READONLY_PATH':
      return `READONLY_PATH ${s.path}${s.remountOnly ? ' (remount)' : ''}`;
    default:
      return o.op;
  }
}
const lines = (ops) => ops.map(line);

// The fields of a MOUNT op by name (see mountFields in rootfs.ts).
function mountFields(o) {
  assert.equal(o.op, 'MOUNT');
  const [kind, source, dest, fstype, flags, prop, data, remount] = o.fields;
  return {
    kind: kind.u32,
    source: source.str,
    dest: dest.str,
    fstype: fstype.str,
    flags: Number(flags.u64),
    prop: Number(prop.u64),
    data: data.str,
    remount: Number(remount.u64),
  };
}

const DEVICE_TAIL = [
  'MKNOD /dev/null',
  'MKNOD /dev/zero',
  'MKNOD /dev/full',
  'MKNOD /dev/random',
  'MKNOD /dev/urandom',
  'MKNOD /dev/tty',
  'SYMLINK /dev/fd -> /proc/self/fd',
  'SYMLINK /dev/stdin -> /proc/self/fd/0',
  'SYMLINK /dev/stdout -> /proc/self/fd/1',
  'SYMLINK /dev/stderr -> /proc/self/fd/2',
  'SYMLINK /dev/core -> /proc/kcore',
  'SYMLINK /dev/ptmx -> pts/ptmx',
  'PIVOT_ROOT',
];

// --- the runc-style default -------------------------------------------------------------------

test('default spec on cgroup v2 with a cgroup namespace: the whole sequence', () => {
  const spec = defaultSpec();
  const ops = planRootfs(spec, ctxFor(spec, hostV2(), { cgroupNs: true }));
  assert.deepEqual(lines(ops), [
    'ROOT_PROPAGATION',
    'BIND_ROOTFS',
    'MOUNT proc /proc',
    'MOUNT tmpfs /dev',
    'MOUNT devpts /dev/pts',
    'MOUNT tmpfs /dev/shm',
    'MOUNT mqueue /dev/mqueue',
    'MOUNT sysfs /sys',
    'MOUNT cgroup2 /sys/fs/cgroup',
    ...DEVICE_TAIL,
  ]);
  assert.deepEqual(ops[0].fields, [{ u64: SLAVE | REC }], 'the root is made rslave by default');
  assert.deepEqual(ops[1].fields, [{ str: '/b/rootfs' }]);
  assert.equal(ops[1].show.rootfs, '/b/rootfs');
  assert.deepEqual(ops.at(-1).fields, [{ u32: 0 }], 'pivot_root, not chroot');
  // Every op names the config entry it comes from.
  assert.deepEqual(
    ops.slice(2, 9).map((o) => o.from),
    ['/mounts/0', '/mounts/1', '/mounts/2', '/mounts/3', '/mounts/4', '/mounts/5', '/mounts/6'],
  );
});

test('default spec: mount fields carry parsed flags and data', () => {
  const spec = defaultSpec();
  const ops = planRootfs(spec, ctxFor(spec, hostV2(), { cgroupNs: true }));
  assert.deepEqual(mountFields(ops[2]), {
    kind: 0,
    source: 'proc',
    dest: '/proc',
    fstype: 'proc',
    flags: 0,
    prop: 0,
    data: '',
    remount: 0,
  });
  assert.deepEqual(mountFields(ops[3]), {
    kind: 4,
    source: 'tmpfs',
    dest: '/dev',
    fstype: 'tmpfs',
    flags: NOSUID | STRICTATIME,
    prop: 0,
    data: 'mode=755,size=65536k',
    remount: 0,
  });
  assert.deepEqual(mountFields(ops[4]), {
    kind: 0,
    source: 'devpts',
    dest: '/dev/pts',
    fstype: 'devpts',
    flags: NOSUID | NOEXEC,
    prop: 0,
    data: 'newinstance,ptmxmode=0666,mode=0620,gid=5',
    remount: 0,
  });
  assert.equal(mountFields(ops[5]).source, 'shm');
  assert.equal(mountFields(ops[7]).flags, NOSUID | NOEXEC | NODEV | RDONLY);
  assert.deepEqual(mountFields(ops[8]), {
    kind: 0,
    source: 'cgroup2',
    dest: '/sys/fs/cgroup',
    fstype: 'cgroup2',
    flags: NOSUID | NOEXEC | NODEV | RELATIME | RDONLY,
    prop: 0,
    data: '',
    remount: 0,
  });
});

test('a relative root.path is resolved against the bundle; an absolute one is kept', () => {
  assert.equal(rootfsPath({ root: { path: 'rootfs' } }, '/srv/bundle'), '/srv/bundle/rootfs');
  assert.equal(rootfsPath({ root: { path: '../r' } }, '/srv/bundle'), '/srv/r');
  assert.equal(rootfsPath({ root: { path: '/abs/merged' } }, '/srv/bundle'), '/abs/merged');
  throwsHusk(() => rootfsPath({}, '/b'), /^\/root\/path: is required/);
});

// --- cgroup mounts per host layout -------------------------------------------------------------

const CG_BASE = NOSUID | NODEV | NOEXEC | RELATIME;
function cgroupSpec(options = ['nosuid', 'noexec', 'nodev', 'relatime', 'ro']) {
  return {
    root: { path: '/r' },
    mounts: [{ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options }],
    linux: { devices: [] },
  };
}
const cgroupOps = (spec, host, cgroupNs) =>
  planRootfs(spec, ctxFor(spec, host, { cgroupNs })).filter((o) => o.from === '/mounts/0');

const V1_NO_NS = [
  'MOUNT tmpfs /sys/fs/cgroup',
  'MOUNT_CGROUP_V1 /sys/fs/cgroup/systemd name=systemd from /sys/fs/cgroup/systemd/husk/c1',
  'MOUNT_CGROUP_V1 /sys/fs/cgroup/cpu,cpuacct cpu,cpuacct from /sys/fs/cgroup/cpu,cpuacct/husk/c1',
  'SYMLINK /sys/fs/cgroup/cpu -> cpu,cpuacct',
  'SYMLINK /sys/fs/cgroup/cpuacct -> cpu,cpuacct',
  'MOUNT_CGROUP_V1 /sys/fs/cgroup/cpuset cpuset from /sys/fs/cgroup/cpuset/husk/c1',
  'MOUNT_CGROUP_V1 /sys/fs/cgroup/memory memory from /sys/fs/cgroup/memory/husk/c1',
  'MOUNT_CGROUP_V1 /sys/fs/cgroup/devices devices from /sys/fs/cgroup/devices/husk/c1',
  'MOUNT_CGROUP_V1 /sys/fs/cgroup/freezer freezer from /sys/fs/cgroup/freezer/husk/c1',
  'MOUNT_CGROUP_V1 /sys/fs/cgroup/pids pids from /sys/fs/cgroup/pids/husk/c1',
];
const V1_NS = V1_NO_NS.map((l) => l.replace(/ from .*/, ''));

test('cgroup mount, v2 host with a cgroup namespace: a fresh cgroup2 mount', () => {
  const ops = cgroupOps(cgroupSpec(), hostV2(), true);
  assert.deepEqual(lines(ops), ['MOUNT cgroup2 /sys/fs/cgroup']);
  assert.equal(mountFields(ops[0]).flags, CG_BASE | RDONLY);
});

// A rootless spec (no network namespace: /sys is an rbind of the host's) with a cgroup
// namespace: the host's cgroup2 mount is already at /sys/fs/cgroup when the cgroup mount comes,
// and the kernel refuses cgroup2 on top of cgroup2 (EBUSY: the guest's rootless check found it).
test("cgroup mount, v2 host, cgroup namespace, /sys rbind of the host's: a tmpfs first, then cgroup2", () => {
  const spec = cgroupSpec();
  spec.mounts.unshift({
    destination: '/sys',
    type: 'none',
    source: '/sys',
    options: ['rbind', 'nosuid', 'ro'],
  });
  const ops = planRootfs(spec, ctxFor(spec, hostV2(), { cgroupNs: true })).filter(
    (o) => o.from === '/mounts/1',
  );
  assert.deepEqual(lines(ops), ['MOUNT tmpfs /sys/fs/cgroup', 'MOUNT cgroup2 /sys/fs/cgroup']);
  assert.equal(mountFields(ops[0]).flags, CG_BASE, 'the tmpfs takes the nosuid/nodev/noexec, not ro');
  assert.equal(mountFields(ops[1]).flags, CG_BASE | RDONLY);
  // A plain bind of /sys brings no submounts: nothing to cover.
  spec.mounts[0].options = ['bind', 'nosuid', 'ro'];
  const plain = planRootfs(spec, ctxFor(spec, hostV2(), { cgroupNs: true })).filter(
    (o) => o.from === '/mounts/1',
  );
  assert.deepEqual(lines(plain), ['MOUNT cgroup2 /sys/fs/cgroup']);
});

test("cgroup mount, v2 host without a cgroup namespace: the container's own cgroup bound", () => {
  const ops = cgroupOps(cgroupSpec(), hostV2(), false);
  assert.deepEqual(lines(ops), ['MOUNT bind /sys/fs/cgroup/husk/c1 /sys/fs/cgroup']);
  const f = mountFields(ops[0]);
  assert.equal(f.kind, 1);
  assert.equal(f.flags, BIND | REC);
  assert.equal(f.remount, BIND | CG_BASE | RDONLY, 'read-only comes from the bind remount');
});

test('cgroup mount, v1 host without a cgroup namespace: tmpfs, host dirs bound, comount links, ro remount', () => {
  const ops = cgroupOps(cgroupSpec(), hostV1(), false);
  assert.deepEqual(lines(ops), [...V1_NO_NS, 'READONLY_PATH /sys/fs/cgroup (remount)']);
  assert.deepEqual(mountFields(ops[0]), {
    kind: 0,
    source: 'tmpfs',
    dest: '/sys/fs/cgroup',
    fstype: 'tmpfs',
    flags: CG_BASE,
    prop: 0,
    data: 'mode=755',
    remount: 0,
  });
  const cpu = ops.find((o) => o.op === 'MOUNT_CGROUP_V1' && o.show.dest === '/sys/fs/cgroup/cpu,cpuacct');
  assert.deepEqual(cpu.fields, [
    { str: '/sys/fs/cgroup/cpu,cpuacct' },
    { str: 'cpu,cpuacct' },
    { str: '/sys/fs/cgroup/cpu,cpuacct/husk/c1' },
    { u64: CG_BASE | RDONLY },
  ]);
  const sd = ops.find((o) => o.op === 'MOUNT_CGROUP_V1' && o.show.dest === '/sys/fs/cgroup/systemd');
  assert.equal(sd.fields[1].str, 'name=systemd', 'the named hierarchy keeps name= for the mount');
  assert.deepEqual(ops.at(-1).fields, [{ str: '/sys/fs/cgroup' }, { u32: 1 }]);
});

test('cgroup mount, v1 host with a cgroup namespace: hierarchies mounted, nothing bound from the host', () => {
  const ops = cgroupOps(cgroupSpec(), hostV1(), true);
  assert.deepEqual(lines(ops), [...V1_NS, 'READONLY_PATH /sys/fs/cgroup (remount)']);
  for (const o of ops.filter((x) => x.op === 'MOUNT_CGROUP_V1')) assert.equal(o.fields[2].str, '');
});

test('cgroup mount, hybrid host without a cgroup namespace: v1 plus the unified dir bound', () => {
  const ops = cgroupOps(cgroupSpec(), hostHybrid(), false);
  assert.deepEqual(lines(ops), [
    ...V1_NO_NS,
    'MOUNT bind /sys/fs/cgroup/unified/husk/c1 /sys/fs/cgroup/unified',
    'READONLY_PATH /sys/fs/cgroup (remount)',
  ]);
  const u = mountFields(ops.at(-2));
  assert.equal(u.flags, BIND | REC);
  assert.equal(u.remount, BIND | CG_BASE | RDONLY);
});

test('cgroup mount, hybrid host with a cgroup namespace: v1 plus a fresh cgroup2', () => {
  const ops = cgroupOps(cgroupSpec(), hostHybrid(), true);
  assert.deepEqual(lines(ops), [
    ...V1_NS,
    'MOUNT cgroup2 /sys/fs/cgroup/unified',
    'READONLY_PATH /sys/fs/cgroup (remount)',
  ]);
  assert.equal(mountFields(ops.at(-2)).flags, CG_BASE | RDONLY);
});

test('a read-write cgroup mount has no read-only remount and no RDONLY bit', () => {
  const spec = cgroupSpec(['nosuid', 'noexec', 'nodev']);
  const v1 = cgroupOps(spec, hostV1(), false);
  assert.ok(!v1.some((o) => o.op === 'READONLY_PATH'));
  for (const o of v1.filter((x) => x.op === 'MOUNT_CGROUP_V1'))
    assert.equal(Number(o.fields[3].u64) & RDONLY, 0);
  const v2 = cgroupOps(spec, hostV2(), false);
  assert.equal(mountFields(v2[0]).remount & RDONLY, 0);
});

test('cgroup binds follow linux.cgroupsPath', () => {
  const spec = { ...cgroupSpec(), linux: { cgroupsPath: '/my/group' } };
  assert.deepEqual(lines(cgroupOps(spec, hostV2(), false)), [
    'MOUNT bind /sys/fs/cgroup/my/group /sys/fs/cgroup',
  ]);
  const mem = cgroupOps(spec, hostV1(), false).find((o) => o.show.dest === '/sys/fs/cgroup/memory');
  assert.equal(mem.show.bind, '/sys/fs/cgroup/memory/my/group');
});

// --- the engine-written fixtures ---------------------------------------------------------------

const FIXTURE_HOSTS = { v1: hostV1, v2: hostV2, hybrid: hostHybrid };

for (const { name, spec } of fixtures()) {
  for (const [layout, mkHost] of Object.entries(FIXTURE_HOSTS)) {
    test(`${name} on ${layout}: propagation, rootfs, mounts in config order, devices, pivot_root`, () => {
      const cgroupNs = (spec.linux.namespaces ?? []).some((n) => n.type === 'cgroup');
      const ops = planRootfs(clone(spec), ctxFor(clone(spec), mkHost(), { cgroupNs }));
      assert.deepEqual(names(ops.slice(0, 2)), ['ROOT_PROPAGATION', 'BIND_ROOTFS']);
      assert.equal(ops[1].show.rootfs, spec.root.path);
      assert.equal(ops.at(-1).op, 'PIVOT_ROOT');
      const mountOps = ops.filter((o) => o.from.startsWith('/mounts/'));
      const idx = mountOps.map((o) => Number(o.from.split('/')[2]));
      assert.deepEqual(
        [...new Set(idx)],
        spec.mounts.map((_, i) => i),
        'every mount, in config order',
      );
      assert.deepEqual(
        idx,
        [...idx].sort((a, b) => a - b),
      );
      // Mount ops come right after BIND_ROOTFS, device ops after the last mount.
      assert.deepEqual(ops.slice(2, 2 + mountOps.length), mountOps);
      assert.deepEqual(lines(ops.slice(2 + mountOps.length)), DEVICE_TAIL);
      // Non-cgroup mounts land on their destination.
      spec.mounts.forEach((m, i) => {
        if (m.type === 'cgroup') return;
        const o = mountOps.find((x) => x.from === `/mounts/${i}`);
        assert.equal(o.show.dest, path.posix.normalize(m.destination));
      });
    });
  }
}

const byName = Object.fromEntries(fixtures().map((f) => [f.name, f.spec]));
const mountFrom = (ops, dest) => ops.find((o) => o.op === 'MOUNT' && o.show.dest === dest);

test(
  'dockerd fixture: rbind+rprivate files, no remount; cgroup mount per host',
  { skip: skipFixtures },
  () => {
    const spec = byName['dockerd-20.10.24-run-d.json'];
    const ops = planRootfs(spec, ctxFor(spec, hostV2()));
    const resolv = mountFields(mountFrom(ops, '/etc/resolv.conf'));
    assert.equal(resolv.kind, 1);
    assert.match(resolv.source, /^\/var\/lib\/docker\/containers\/[0-9a-f]+\/resolv\.conf$/);
    assert.equal(resolv.flags, BIND | REC);
    assert.equal(resolv.prop, PRIVATE | REC);
    assert.equal(resolv.remount, 0);
    assert.equal(
      mountFrom(ops, '/sys/fs/cgroup').show.source,
      '/sys/fs/cgroup/docker/' + spec.linux.cgroupsPath.split('/')[2],
    );
    assert.deepEqual(mountFields(mountFrom(ops, '/dev/shm')).data, 'mode=1777,size=67108864');
  },
);

test('podman fixture: /dev/shm bind with nosuid,noexec,nodev remounted', { skip: skipFixtures }, () => {
  const spec = byName['podman-4.3.1-run-d.json'];
  const ops = planRootfs(spec, ctxFor(spec, hostHybrid()));
  const shm = mountFields(mountFrom(ops, '/dev/shm'));
  assert.equal(shm.kind, 1);
  assert.equal(shm.flags, BIND | NOSUID | NOEXEC | NODEV);
  assert.equal(shm.prop, PRIVATE | REC);
  assert.equal(shm.remount, BIND | NOSUID | NOEXEC | NODEV);
  assert.equal(mountFields(mountFrom(ops, '/etc/hosts')).remount, 0);
  // hybrid without a cgroup namespace: the rprivate on the cgroup mount does not stop the v1 layout
  assert.ok(ops.some((o) => o.op === 'MOUNT_CGROUP_V1' && o.show.dest === '/sys/fs/cgroup/pids'));
});

test(
  'runc rootless fixture: /sys is an rbind of the host /sys, read-only by remount',
  { skip: skipFixtures },
  () => {
    const spec = byName['runc-1.1.5-spec-rootless.json'];
    const ops = planRootfs(spec, ctxFor(spec, hostV2()));
    const sys = mountFields(mountFrom(ops, '/sys'));
    assert.equal(sys.kind, 1);
    assert.equal(sys.source, '/sys');
    assert.equal(sys.flags, BIND | REC | NOSUID | NOEXEC | NODEV | RDONLY);
    assert.equal(sys.remount, BIND | NOSUID | NOEXEC | NODEV | RDONLY);
  },
);

test('containerd fixture: no cgroup mount at all, /run is a tmpfs', { skip: skipFixtures }, () => {
  const spec = byName['containerd-1.6.20-ctr-run.json'];
  for (const host of [hostV1(), hostV2(), hostHybrid()]) {
    const ops = planRootfs(spec, ctxFor(spec, host));
    assert.ok(
      !ops.some((o) => o.op === 'MOUNT_CGROUP_V1' || String(o.show.dest).startsWith('/sys/fs/cgroup')),
    );
    assert.equal(mountFrom(ops, '/run').show.type, 'tmpfs');
  }
});

// --- mounts in general ------------------------------------------------------------------------

const ctx0 = (spec) => ctxFor(spec, hostV2(), { bundle: '/bundle' });

test('destinations are made absolute and normalised; bind sources resolve against the bundle', () => {
  const spec = {
    root: { path: 'rootfs' },
    mounts: [
      { destination: 'proc', type: 'proc', source: 'proc' },
      { destination: '/a/../b//c/', type: 'tmpfs', source: 'tmpfs' },
      { destination: '/data', type: 'bind', source: 'data', options: ['rbind'] },
      { destination: '/opt', source: '/srv/opt', options: ['bind', 'ro'] },
    ],
  };
  const ops = planRootfs(spec, ctx0(spec));
  assert.deepEqual(ops.slice(2, 6).map(line), [
    'MOUNT proc /proc',
    'MOUNT tmpfs /b/c',
    'MOUNT bind /bundle/data /data',
    'MOUNT bind /srv/opt /opt',
  ]);
  assert.equal(ops[1].show.rootfs, '/bundle/rootfs');
  const opt = mountFields(ops[5]);
  assert.equal(opt.flags, BIND | RDONLY);
  assert.equal(opt.remount, BIND | RDONLY, 'ro on a bind needs the remount');
});

test('a bind type without bind options is a non-recursive bind', () => {
  const spec = {
    root: { path: '/r' },
    mounts: [{ destination: '/x', type: 'bind', source: '/y', options: ['nosuid'] }],
  };
  const f = mountFields(planRootfs(spec, ctx0(spec))[2]);
  assert.equal(f.flags, BIND | NOSUID);
  assert.equal(f.flags & REC, 0);
  assert.equal(f.remount, BIND | NOSUID);
});

test('mount errors name the entry', () => {
  const bad = (m) => ({ root: { path: '/r' }, mounts: [{ destination: '/ok', type: 'tmpfs' }, m] });
  throwsHusk(
    () => planRootfs(bad({ destination: '/x', type: 'bind' }), ctx0({})),
    /^\/mounts\/1\/source: a bind mount needs a source/,
  );
  throwsHusk(
    () => planRootfs(bad({ destination: '/x', source: 'x' }), ctx0({})),
    /^\/mounts\/1\/type: is required/,
  );
  throwsHusk(
    () => planRootfs(bad({ destination: '/x', type: 'tmpfs', options: ['nosuid', 'idmap'] }), ctx0({})),
    /^\/mounts\/1\/type: idmapped mounts are supported for bind mounts only/,
  );
});

// The recursive attributes and idmapped-tree slot at the end of a MOUNT op.
function mountTail(o) {
  const f = o.fields;
  return { kind: f[0].u32, attrSet: Number(f[8].u64), attrClr: Number(f[9].u64), slot: f[10].u32 };
}

test('recursive attributes ride on the MOUNT op, for binds and other mounts', () => {
  const spec = {
    root: { path: '/r' },
    mounts: [
      { destination: '/a', type: 'bind', source: '/h', options: ['rbind', 'rro', 'rnosuid'] },
      { destination: '/b', type: 'tmpfs', options: ['rnoexec', 'rnoatime'] },
      { destination: '/c', type: 'bind', source: '/h', options: ['rbind'] },
    ],
  };
  const ops = planRootfs(spec, ctx0(spec)).filter((o) => o.op === 'MOUNT');
  assert.deepEqual(mountTail(ops[0]), { kind: 1, attrSet: 0x1 | 0x2, attrClr: 0, slot: 0 });
  assert.deepEqual(mountFields(ops[0]).flags & RDONLY, 0, "rro is not the top mount's ro flag");
  assert.deepEqual(mountTail(ops[1]), { kind: 4, attrSet: 0x8 | 0x10, attrClr: 0x70, slot: 1 });
  assert.deepEqual(mountTail(ops[2]), { kind: 1, attrSet: 0, attrClr: 0, slot: 0 });
});

test('sysfs in a user namespace may fall back to the host /sys; without one it is a plain mount', () => {
  const spec = {
    root: { path: '/r' },
    mounts: [{ destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['ro'] }],
  };
  const kind = (userNs) =>
    mountTail(planRootfs(spec, { ...ctx0(spec), userNs }).find((o) => o.op === 'MOUNT')).kind;
  assert.equal(kind(true), 2);
  assert.equal(kind(false), 0);
});

test('tmpfs: mounted writable, ro after; the covered mode unless mode= is given; tmpcopyup', () => {
  const spec = {
    root: { path: '/r' },
    mounts: [
      { destination: '/tmp', type: 'tmpfs', options: ['nosuid', 'ro'] },
      { destination: '/run', type: 'tmpfs', options: ['mode=755', 'tmpcopyup'] },
    ],
  };
  const ops = planRootfs(spec, ctx0(spec)).filter((o) => o.op === 'MOUNT');
  assert.equal(mountFields(ops[0]).flags, NOSUID, 'not read-only while the mode is set');
  assert.equal(mountFields(ops[0]).remount, RDONLY, 'made read-only after');
  assert.equal(mountTail(ops[0]).slot, 1, 'takes the mode of the directory it covers');
  assert.equal(mountTail(ops[1]).slot, 2, 'mode= given: copy up only');
});

test('/dev given ro: mounted writable, made read-only among the protections', () => {
  const spec = {
    root: { path: '/r' },
    mounts: [{ destination: '/dev', type: 'tmpfs', options: ['nosuid', 'ro', 'mode=755'] }],
  };
  const dev = planRootfs(spec, ctx0(spec)).find((o) => o.op === 'MOUNT');
  assert.equal(mountFields(dev).flags & RDONLY, 0);
  assert.equal(mountFields(dev).remount, 0, 'not before the device nodes and /dev/pts are in');
  const last = planProtections(spec).filter((o) => o.op === 'READONLY_PATH');
  assert.deepEqual(
    last.map((o) => [o.from, o.fields]),
    [['/mounts/0', [{ str: '/dev' }, { u32: 1 }]]],
  );
  assert.deepEqual(
    planProtections({ root: { path: '/r' }, mounts: [{ destination: '/dev', type: 'tmpfs' }] }),
    [],
  );
});

test('a bind at /proc: allowed only without a pid namespace', () => {
  const spec = (pid) => ({
    root: { path: '/r' },
    linux: { namespaces: pid ? [{ type: 'pid' }, { type: 'mount' }] : [{ type: 'mount' }] },
    mounts: [{ destination: '/proc', type: 'bind', source: '/proc', options: ['rbind'] }],
  });
  const ops = planRootfs(spec(false), ctx0(spec(false))).filter((o) => o.op === 'MOUNT');
  assert.equal(mountFields(ops[0]).dest, '/proc');
  assert.throws(() => planRootfs(spec(true), ctx0(spec(true))), /\/mounts\/0: only a proc filesystem/);
  const tmpfs = { ...spec(false), mounts: [{ destination: '/proc', type: 'tmpfs' }] };
  assert.throws(() => planRootfs(tmpfs, ctx0(tmpfs)), /\/mounts\/0: only a proc filesystem/);
});

// --- root propagation -------------------------------------------------------------------------

function propOps(rootfsPropagation) {
  const spec = { root: { path: '/r' }, linux: { rootfsPropagation } };
  return planRootfs(spec, ctx0(spec));
}

test('rootfsPropagation private/rprivate: set before pivot_root, nothing after', () => {
  for (const p of ['private', 'rprivate']) {
    const ops = propOps(p);
    assert.deepEqual(ops[0].fields, [{ u64: PRIVATE | REC }]);
    assert.equal(ops.at(-1).op, 'PIVOT_ROOT');
  }
});

test('rootfsPropagation shared/slave/unbindable: rslave first, the given one on / after pivot_root', () => {
  for (const [p, flags] of [
    ['shared', SHARED],
    ['rshared', SHARED | REC],
    ['slave', SLAVE],
    ['unbindable', UNBINDABLE],
  ]) {
    const ops = propOps(p);
    assert.deepEqual(ops[0].fields, [{ u64: SLAVE | REC }], p);
    assert.deepEqual(names(ops.slice(-2)), ['PIVOT_ROOT', 'PROPAGATION'], p);
    assert.deepEqual(ops.at(-1).fields, [{ str: '/' }, { u64: flags }], p);
  }
});

test('an unknown rootfsPropagation is an error naming the field', () => {
  throwsHusk(() => propOps('sideways'), /^\/linux\/rootfsPropagation: unknown propagation "sideways"/);
});

test('noPivot is passed to PIVOT_ROOT', () => {
  const spec = { root: { path: '/r' } };
  const ops = planRootfs(spec, { ...ctx0(spec), noPivot: true });
  assert.deepEqual(ops.at(-1).fields, [{ u32: 1 }]);
  assert.equal(ops.at(-1).show.noPivot, true);
});

// --- devices ----------------------------------------------------------------------------------

test('makedev matches glibc', () => {
  assert.equal(makedev(1, 3), 259n);
  assert.equal(makedev(5, 0), 1280n);
  assert.equal(makedev(136, 300), 1083436n); // minor above 255 moves to bits 20+
  assert.equal(makedev(259, 1048575), 4293985279n);
  assert.equal(makedev(4096, 0), 17592186044416n); // major above 4095 moves to bits 44+
  assert.equal(makedev(0, 0), 0n);
});

const devOpts = { kcore: true, rootUid: 0, rootGid: 0 };

test('default devices: six character devices, mode 0666, owned by the container root', () => {
  const ops = planDevices({}, { kcore: true, rootUid: 7, rootGid: 8 });
  const nodes = ops.filter((o) => o.op === 'MKNOD');
  assert.deepEqual(
    nodes.map((o) => [o.show.path, o.show.major, o.show.minor]),
    [
      ['/dev/null', 1, 3],
      ['/dev/zero', 1, 5],
      ['/dev/full', 1, 7],
      ['/dev/random', 1, 8],
      ['/dev/urandom', 1, 9],
      ['/dev/tty', 5, 0],
    ],
  );
  assert.deepEqual(nodes[0].fields, [
    { str: '/dev/null' },
    { u32: S_IFCHR | 0o666 },
    { u64: 259n },
    { u32: 7 },
    { u32: 8 },
  ]);
  for (const o of nodes) assert.equal(o.fields[1].u32, S_IFCHR | 0o666);
});

test('linux.devices: type, fileMode, uid and gid reach the MKNOD op', () => {
  const spec = {
    linux: {
      devices: [
        { path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o620, uid: 5, gid: 6 },
        { path: '/dev/sda', type: 'b', major: 8, minor: 0 },
        { path: '/dev/fifo', type: 'p' },
        { path: '/dev/setuidish', type: 'u', major: 1, minor: 300, fileMode: 0o104755 },
      ],
    },
  };
  const ops = planDevices(spec, devOpts).filter((o) => o.from.startsWith('/linux/devices/'));
  assert.deepEqual(
    ops.map((o) => o.from),
    ['/linux/devices/0', '/linux/devices/1', '/linux/devices/2', '/linux/devices/3'],
  );
  assert.deepEqual(ops[0].fields, [
    { str: '/dev/fuse' },
    { u32: S_IFCHR | 0o620 },
    { u64: makedev(10, 229) },
    { u32: 5 },
    { u32: 6 },
  ]);
  assert.deepEqual(ops[1].fields, [
    { str: '/dev/sda' },
    { u32: S_IFBLK | 0o666 },
    { u64: 2048n },
    { u32: 0 },
    { u32: 0 },
  ]);
  assert.deepEqual(ops[2].fields, [
    { str: '/dev/fifo' },
    { u32: S_IFIFO | 0o666 },
    { u64: 0n },
    { u32: 0 },
    { u32: 0 },
  ]);
  assert.equal(ops[3].fields[1].u32, S_IFCHR | 0o4755, 'file type bits in fileMode are masked off');
  assert.equal(ops[3].fields[2].u64, makedev(1, 300));
});

test('a fileMode of 0 is kept, not replaced by the default', () => {
  const ops = planDevices(
    { linux: { devices: [{ path: '/dev/x', type: 'c', major: 1, minor: 1, fileMode: 0 }] } },
    devOpts,
  );
  assert.equal(ops.find((o) => o.from === '/linux/devices/0').fields[1].u32, S_IFCHR);
});

test('a device given at a default path replaces the default one', () => {
  const ops = planDevices(
    { linux: { devices: [{ path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o600 }] } },
    devOpts,
  );
  const nulls = ops.filter((o) => o.show.path === '/dev/null');
  assert.equal(nulls.length, 1);
  assert.equal(nulls[0].from, '/linux/devices/0');
  assert.equal(nulls[0].fields[1].u32, S_IFCHR | 0o600);
  assert.equal(ops.filter((o) => o.op === 'MKNOD').length, 6);
});

test('device path validation names the entry', () => {
  const dev = (d) => ({ linux: { devices: [{ path: '/dev/ok', type: 'c', major: 1, minor: 1 }, d] } });
  throwsHusk(
    () => planDevices(dev({ path: 'dev/null', type: 'c', major: 1, minor: 3 }), devOpts),
    /^\/linux\/devices\/1\/path: "dev\/null" must be absolute/,
  );
  // Outside /dev is the spec's to allow; a file already there is refused when the node is made.
  assert.equal(
    planDevices(dev({ path: '/etc/passwd', type: 'c', major: 1, minor: 3 }), devOpts).length > 0,
    true,
  );
  throwsHusk(
    () => planDevices(dev({ path: '/dev/../etc/shadow', type: 'c', major: 1, minor: 3 }), devOpts),
    /^\/linux\/devices\/1\/path: "\/dev\/\.\.\/etc\/shadow" must not contain "\.\."/,
  );
  throwsHusk(
    () => planDevices(dev({ path: '/dev/x', type: 'c', major: 1 }), devOpts),
    /^\/linux\/devices\/1: a "c" device needs major and minor/,
  );
  throwsHusk(
    () => planDevices(dev({ path: '/dev/x', type: 'b', minor: 1 }), devOpts),
    /^\/linux\/devices\/1: a "b" device needs major and minor/,
  );
});

test('without /proc/kcore there is no /dev/core link', () => {
  const links = planDevices({}, { ...devOpts, kcore: false })
    .filter((o) => o.op === 'SYMLINK')
    .map((o) => o.show.link);
  assert.deepEqual(links, ['/dev/fd', '/dev/stdin', '/dev/stdout', '/dev/stderr']);
});

test('/dev bound from the host: no default devices and no /dev links are made', () => {
  for (const m of [
    { destination: '/dev', type: 'bind', source: '/dev', options: ['rbind'] },
    { destination: '/dev', source: '/dev', options: ['rbind'] },
    { destination: '/x/../dev', type: 'none', source: '/dev', options: ['bind'] },
  ]) {
    const spec = {
      root: { path: '/r' },
      mounts: [m],
      linux: { devices: [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }] },
    };
    const ops = planRootfs(spec, ctx0(spec));
    assert.ok(!ops.some((o) => o.op === 'MKNOD'), JSON.stringify(m));
    assert.ok(!ops.some((o) => o.op === 'SYMLINK' && o.show.link === '/dev/fd'), JSON.stringify(m));
    assert.deepEqual(lines(ops), [
      'ROOT_PROPAGATION',
      'BIND_ROOTFS',
      'MOUNT bind /dev /dev',
      'SYMLINK /dev/ptmx -> pts/ptmx',
      'PIVOT_ROOT',
    ]);
  }
});

test('a tmpfs on /dev still gets the devices', () => {
  const spec = { root: { path: '/r' }, mounts: [{ destination: '/dev', type: 'tmpfs', source: 'tmpfs' }] };
  assert.equal(planRootfs(spec, ctx0(spec)).filter((o) => o.op === 'MKNOD').length, 6);
});

test('a /dev bind written "/dev/" also skips the devices (no mknod into the host /dev)', () => {
  const spec = {
    root: { path: '/r' },
    mounts: [{ destination: '/dev/', type: 'bind', source: '/dev', options: ['rbind'] }],
  };
  const ops = planRootfs(spec, ctx0(spec));
  assert.equal(ops.filter((o) => o.op === 'MKNOD').length, 0);
});

// --- masks and read-only paths ----------------------------------------------------------------

test('planProtections: masked paths, then read-only paths, then the read-only root', () => {
  const spec = {
    root: { path: '/r', readonly: true },
    linux: { maskedPaths: ['/proc/kcore', 'proc/keys'], readonlyPaths: ['/proc/sys', '/proc/bus/'] },
  };
  const ops = planProtections(spec);
  assert.deepEqual(
    ops.map((o) => [o.op, o.from, o.fields]),
    [
      ['MASK_PATH', '/linux/maskedPaths/0', [{ str: '/proc/kcore' }]],
      ['MASK_PATH', '/linux/maskedPaths/1', [{ str: '/proc/keys' }]],
      ['READONLY_PATH', '/linux/readonlyPaths/0', [{ str: '/proc/sys' }, { u32: 0 }]],
      ['READONLY_PATH', '/linux/readonlyPaths/1', [{ str: '/proc/bus' }, { u32: 0 }]],
      ['READONLY_PATH', '/root/readonly', [{ str: '/' }, { u32: 1 }]],
    ],
  );
  assert.deepEqual(planProtections({ root: { path: '/r' } }), []);
});

// Rootless podman (issue 23): no cgroup of the container's own (not delegated) and no cgroup
// namespace. A cgroup2 mount is refused to a caller in a user namespace there; runc binds the
// host's hierarchy instead, and so does husk, read-only whatever the config says.
const noOwnCgroups = (spec, host) => ({ ...ctxFor(spec, host), cgroups: null });

test('cgroup mount, no cgroup of its own and no cgroup namespace (v2): the host hierarchy bound read-only', () => {
  const spec = cgroupSpec(['nosuid', 'noexec', 'nodev']);
  const ops = planRootfs(spec, noOwnCgroups(spec, hostV2())).filter((o) => o.from === '/mounts/0');
  assert.deepEqual(lines(ops), ['MOUNT bind /sys/fs/cgroup /sys/fs/cgroup']);
  const f = mountFields(ops[0]);
  assert.equal(f.flags, BIND | REC);
  assert.equal(f.remount, BIND | NOSUID | NOEXEC | NODEV | RDONLY);
});

test('cgroup mount, no cgroup of its own and no cgroup namespace (hybrid): the host unified root bound read-only', () => {
  const spec = cgroupSpec();
  const ops = planRootfs(spec, noOwnCgroups(spec, hostHybrid())).filter((o) => o.from === '/mounts/0');
  const u = ops.find((o) => o.show.dest === '/sys/fs/cgroup/unified');
  assert.equal(line(u), 'MOUNT bind /sys/fs/cgroup/unified /sys/fs/cgroup/unified');
  assert.equal(mountFields(u).remount, BIND | CG_BASE | RDONLY);
  assert.ok(!ops.some((o) => o.show.type === 'cgroup2'), 'no cgroup2 mount without a cgroup namespace');
});
