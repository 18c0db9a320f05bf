// src/host/probe.ts parseCgroupMounts: the host's cgroup layout from /proc/self/mountinfo text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { load } from './helpers.mjs';

const { parseCgroupMounts } = load('host/probe.js');

const BASE = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
  '24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw',
];

const PURE_V2 = [
  ...BASE,
  '30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot',
].join('\n');

const PURE_V1 = [
  ...BASE,
  '25 24 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755',
  '26 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd',
  '28 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct',
  '29 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory',
  '30 25 0:28 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpuset,clone_children',
  '31 25 0:29 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,net_cls,net_prio',
  '32 25 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,pids',
].join('\n');

// This shape is what systemd's hybrid mode mounts (and what the development machine has).
const HYBRID = [
  ...BASE,
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct',
  '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');

test('pure v2: cgroup2 on /sys/fs/cgroup, no v1 hierarchies', () => {
  assert.deepEqual(parseCgroupMounts(PURE_V2), { cgroupMode: 'v2', v1: [], unified: '/sys/fs/cgroup' });
});

test('pure v1: every hierarchy with its controllers; mount options are not controllers', () => {
  assert.deepEqual(parseCgroupMounts(PURE_V1), {
    cgroupMode: 'v1',
    unified: null,
    v1: [
      { mountpoint: '/sys/fs/cgroup/systemd', controllers: ['name=systemd'] },
      { mountpoint: '/sys/fs/cgroup/cpu,cpuacct', controllers: ['cpu', 'cpuacct'] },
      { mountpoint: '/sys/fs/cgroup/memory', controllers: ['memory'] },
      { mountpoint: '/sys/fs/cgroup/cpuset', controllers: ['cpuset'] },
      { mountpoint: '/sys/fs/cgroup/net_cls,net_prio', controllers: ['net_cls', 'net_prio'] },
      { mountpoint: '/sys/fs/cgroup/pids', controllers: ['pids'] },
    ],
  });
});

test('hybrid: v1 hierarchies plus cgroup2 on /sys/fs/cgroup/unified', () => {
  assert.deepEqual(parseCgroupMounts(HYBRID), {
    cgroupMode: 'hybrid',
    unified: '/sys/fs/cgroup/unified',
    v1: [
      { mountpoint: '/sys/fs/cgroup/cpu', controllers: ['cpu'] },
      { mountpoint: '/sys/fs/cgroup/cpuacct', controllers: ['cpuacct'] },
      { mountpoint: '/sys/fs/cgroup/memory', controllers: ['memory'] },
      { mountpoint: '/sys/fs/cgroup/systemd', controllers: ['name=systemd'] },
    ],
  });
});

test('no cgroup mounts: none', () => {
  assert.deepEqual(parseCgroupMounts(BASE.join('\n')), { cgroupMode: 'none', v1: [], unified: null });
  assert.deepEqual(parseCgroupMounts(''), { cgroupMode: 'none', v1: [], unified: null });
});

test('cgroup2 mounted somewhere else alone still counts as v2', () => {
  const text = [...BASE, '40 22 0:40 / /run/cg2 rw - cgroup2 cgroup2 rw'].join('\n');
  assert.deepEqual(parseCgroupMounts(text), { cgroupMode: 'v2', v1: [], unified: '/run/cg2' });
});

test('a hierarchy mounted twice at one place is listed once; \\040 in a mountpoint is a space', () => {
  const text = [
    ...BASE,
    '50 24 0:50 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids',
    '51 24 0:50 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids',
    '52 24 0:51 / /mnt/my\\040cgroups rw - cgroup cgroup rw,memory',
  ].join('\n');
  assert.deepEqual(parseCgroupMounts(text).v1, [
    { mountpoint: '/sys/fs/cgroup/pids', controllers: ['pids'] },
    { mountpoint: '/mnt/my cgroups', controllers: ['memory'] },
  ]);
});

test('optional fields before the separator do not shift the parse', () => {
  const text =
    '60 24 0:60 / /sys/fs/cgroup/blkio rw,nosuid shared:20 master:3 propagate_from:2 - cgroup cgroup rw,blkio';
  assert.deepEqual(parseCgroupMounts(text).v1, [
    { mountpoint: '/sys/fs/cgroup/blkio', controllers: ['blkio'] },
  ]);
});

test('this machine: the real mountinfo parses into a consistent layout', () => {
  const real = parseCgroupMounts(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  assert.ok(['v1', 'v2', 'hybrid', 'none'].includes(real.cgroupMode));
  if (real.cgroupMode === 'v2') assert.deepEqual(real.v1, []);
  if (real.cgroupMode === 'hybrid') assert.ok(real.unified && real.v1.length > 0);
  if (real.cgroupMode === 'v1') assert.equal(real.unified, null);
  for (const h of real.v1)
    assert.ok(
      h.controllers.length > 0 && h.controllers.every((c) => c && !['rw', 'ro'].includes(c)),
      JSON.stringify(h),
    );
});

test("a container rootfs's cgroup mounts seen through shared propagation do not replace the host's", () => {
  const seen = [
    HYBRID,
    '90 22 0:29 /husk/c1 /tmp/husk-test-x/rootfs/sys/fs/cgroup/cpu ro,relatime shared:40 - cgroup cgroup rw,cpu',
    '91 22 0:32 /husk/c1 /tmp/husk-test-x/rootfs/sys/fs/cgroup/memory ro,relatime shared:41 - cgroup cgroup rw,memory',
    '92 22 0:38 /husk/c1 /tmp/husk-test-x/rootfs/sys/fs/cgroup/unified ro,relatime shared:42 - cgroup2 cgroup2 rw',
  ].join('\n');
  assert.deepEqual(parseCgroupMounts(seen), parseCgroupMounts(HYBRID));
});
