// src/plan/cgroups.ts: where the container's cgroups are per host layout, and which file gets
// which value for linux.resources on cgroup v1 and v2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, hostV1, hostV2, hostHybrid, hostNone, throwsHusk } from './helpers.mjs';

const { cgroupRelPath, defaultDeviceRules, planCgroups, resourceWrites, sharesToWeight } =
  load('plan/cgroups.js');

const withPath = (cgroupsPath) => ({ linux: { cgroupsPath } });

test('cgroupRelPath: default, absolute, relative, normalised', () => {
  assert.equal(cgroupRelPath({}, 'c1'), '/husk/c1');
  assert.equal(cgroupRelPath(withPath(''), 'c1'), '/husk/c1');
  assert.equal(cgroupRelPath(withPath('/docker/abc'), 'c1'), '/docker/abc');
  assert.equal(cgroupRelPath(withPath('docker/abc'), 'c1'), '/docker/abc');
  assert.equal(cgroupRelPath(withPath('/a/./b/../c'), 'c1'), '/a/c');
  assert.equal(cgroupRelPath(withPath('/../../etc'), 'c1'), '/etc', 'cannot climb above the hierarchy root');
});

test('cgroupRelPath: the systemd form and the root cgroup are rejected', () => {
  throwsHusk(
    () => cgroupRelPath(withPath('system.slice:docker:abc'), 'c1'),
    /^\/linux\/cgroupsPath: "system\.slice:docker:abc" is a systemd path/,
    /--systemd-cgroup/,
  );
  throwsHusk(() => cgroupRelPath(withPath(':husk:c1'), 'c1'), /systemd path/);
  for (const root of ['/', '//', '/a/..', 'a/../..'])
    throwsHusk(() => cgroupRelPath(withPath(root), 'c1'), /^\/linux\/cgroupsPath: .* is the root cgroup/);
  // A colon in a path component is not the systemd form.
  assert.equal(cgroupRelPath(withPath('/a:b:c/d'), 'c1'), '/a:b:c/d');
});

test('planCgroups, pure v2: one dir below the unified mount', () => {
  const p = planCgroups({}, hostV2(), 'c1');
  assert.equal(p.relPath, '/husk/c1');
  assert.deepEqual(p.dirs, ['/sys/fs/cgroup/husk/c1']);
  assert.equal(p.unifiedDir, '/sys/fs/cgroup/husk/c1');
  assert.deepEqual(p.v1, []);
  assert.deepEqual(p.writes, []);
});

test('planCgroups, v1: one dir per hierarchy', () => {
  const p = planCgroups(withPath('/x/y'), hostV1(), 'c1');
  assert.deepEqual(p.dirs, [
    '/sys/fs/cgroup/systemd/x/y',
    '/sys/fs/cgroup/cpu,cpuacct/x/y',
    '/sys/fs/cgroup/cpuset/x/y',
    '/sys/fs/cgroup/memory/x/y',
    '/sys/fs/cgroup/devices/x/y',
    '/sys/fs/cgroup/freezer/x/y',
    '/sys/fs/cgroup/pids/x/y',
  ]);
  assert.equal(p.unifiedDir, null);
  assert.deepEqual(p.v1[1], {
    mountpoint: '/sys/fs/cgroup/cpu,cpuacct',
    controllers: ['cpu', 'cpuacct'],
    dir: '/sys/fs/cgroup/cpu,cpuacct/x/y',
  });
});

test('planCgroups, hybrid: the v1 dirs first, then the unified one', () => {
  const p = planCgroups({}, hostHybrid(), 'c1');
  assert.equal(p.dirs.length, 8);
  assert.equal(p.dirs[0], '/sys/fs/cgroup/systemd/husk/c1');
  assert.equal(p.dirs.at(-1), '/sys/fs/cgroup/unified/husk/c1');
  assert.equal(p.unifiedDir, '/sys/fs/cgroup/unified/husk/c1');
});

test('planCgroups: no cgroups on the host, no plan', () => {
  assert.equal(planCgroups({ linux: { resources: { pids: { limit: 5 } } } }, hostNone(), 'c1'), null);
});

test('planCgroups on hybrid writes v1 files (controllers live in v1 there)', () => {
  const p = planCgroups(
    { linux: { resources: { pids: { limit: 5 }, memory: { limit: 1000 } } } },
    hostHybrid(),
    'c1',
  );
  assert.deepEqual(
    p.writes.map((w) => `${w.dir}/${w.file}=${w.value}`),
    ['/sys/fs/cgroup/memory/husk/c1/memory.limit_in_bytes=1000', '/sys/fs/cgroup/pids/husk/c1/pids.max=5'],
  );
});

// --- resource writes --------------------------------------------------------------------------

const planV1 = () => planCgroups({}, hostV1(), 'c1');
const planV2 = () => planCgroups({}, hostV2(), 'c1');
const v1 = (res) =>
  resourceWrites(planV1(), res, false).map((w) => `${w.dir.replace('/husk/c1', '')}: ${w.file}=${w.value}`);
const v2 = (res) => resourceWrites(planV2(), res, true).map((w) => `${w.file}=${w.value}`);

test('no resources, no writes', () => {
  assert.deepEqual(resourceWrites(planV1(), undefined, false), []);
  assert.deepEqual(resourceWrites(planV2(), {}, true), []);
});

test('sharesToWeight', () => {
  assert.equal(sharesToWeight(2), 1);
  assert.equal(sharesToWeight(1024), 39);
  assert.equal(sharesToWeight(262144), 10000);
  assert.equal(sharesToWeight(0), 0);
});

test('memory on v1', () => {
  assert.deepEqual(
    v1({
      memory: { limit: 1048576, reservation: 524288, swap: 2097152, swappiness: 10, disableOOMKiller: true },
    }),
    [
      '/sys/fs/cgroup/memory: memory.limit_in_bytes=1048576',
      '/sys/fs/cgroup/memory: memory.soft_limit_in_bytes=524288',
      '/sys/fs/cgroup/memory: memory.memsw.limit_in_bytes=2097152',
      '/sys/fs/cgroup/memory: memory.swappiness=10',
      '/sys/fs/cgroup/memory: memory.oom_control=1',
    ],
  );
  assert.deepEqual(v1({ memory: { limit: -1, disableOOMKiller: false } }), [
    '/sys/fs/cgroup/memory: memory.limit_in_bytes=-1',
  ]);
});

test('memory on v2: max/low, swap converted from memory+swap to swap alone', () => {
  assert.deepEqual(v2({ memory: { limit: 1048576, reservation: 524288, swap: 3145728 } }), [
    'memory.max=1048576',
    'memory.low=524288',
    'memory.swap.max=2097152',
  ]);
  assert.deepEqual(v2({ memory: { limit: 1000, swap: 1000 } }), ['memory.max=1000', 'memory.swap.max=0']);
  assert.deepEqual(
    v2({ memory: { limit: 1000, swap: 500 } }),
    ['memory.max=1000', 'memory.swap.max=0'],
    'never negative',
  );
  assert.deepEqual(v2({ memory: { limit: -1, swap: -1 } }), ['memory.max=max', 'memory.swap.max=max']);
  assert.deepEqual(v2({ memory: { limit: 1000, swap: -1 } }), ['memory.max=1000', 'memory.swap.max=max']);
  // v1-only knobs have no v2 file and are left out.
  assert.deepEqual(v2({ memory: { swappiness: 10, disableOOMKiller: true } }), []);
});

test('cpu on v1', () => {
  assert.deepEqual(
    v1({
      cpu: {
        shares: 1024,
        quota: 50000,
        period: 100000,
        realtimePeriod: 1000000,
        realtimeRuntime: 950000,
        cpus: '0-1',
        mems: '0',
      },
    }),
    [
      '/sys/fs/cgroup/cpu,cpuacct: cpu.shares=1024',
      '/sys/fs/cgroup/cpu,cpuacct: cpu.cfs_period_us=100000',
      '/sys/fs/cgroup/cpu,cpuacct: cpu.cfs_quota_us=50000',
      '/sys/fs/cgroup/cpu,cpuacct: cpu.rt_period_us=1000000',
      '/sys/fs/cgroup/cpu,cpuacct: cpu.rt_runtime_us=950000',
      '/sys/fs/cgroup/cpuset: cpuset.cpus=0-1',
      '/sys/fs/cgroup/cpuset: cpuset.mems=0',
    ],
  );
  assert.deepEqual(v1({ cpu: { shares: 0, quota: 0 } }), [], 'shares 0 and quota 0 mean unset');
  assert.deepEqual(v1({ cpu: { quota: -1 } }), ['/sys/fs/cgroup/cpu,cpuacct: cpu.cfs_quota_us=-1']);
});

test('cpu on v2: weight from shares, cpu.max "quota period"', () => {
  assert.deepEqual(v2({ cpu: { shares: 1024, quota: 50000, period: 200000, cpus: '2', mems: '0-1' } }), [
    'cpu.weight=39',
    'cpu.max=50000 200000',
    'cpuset.cpus=2',
    'cpuset.mems=0-1',
  ]);
  assert.deepEqual(v2({ cpu: { quota: 25000 } }), ['cpu.max=25000 100000']);
  assert.deepEqual(v2({ cpu: { period: 50000 } }), ['cpu.max=max 50000']);
  assert.deepEqual(v2({ cpu: { quota: -1 } }), ['cpu.max=max 100000']);
  assert.deepEqual(v2({ cpu: { shares: 2 } }), ['cpu.weight=1']);
  assert.deepEqual(v2({ cpu: { shares: 262144 } }), ['cpu.weight=10000']);
  assert.deepEqual(v2({ cpu: { realtimePeriod: 1, realtimeRuntime: 1 } }), []);
});

test('pids: a positive limit as is, 0 or -1 as max', () => {
  assert.deepEqual(v2({ pids: { limit: 2048 } }), ['pids.max=2048']);
  assert.deepEqual(v2({ pids: { limit: 0 } }), ['pids.max=max']);
  assert.deepEqual(v2({ pids: { limit: -1 } }), ['pids.max=max']);
  assert.deepEqual(v1({ pids: { limit: -1 } }), ['/sys/fs/cgroup/pids: pids.max=max']);
  assert.deepEqual(v1({ pids: { limit: 7 } }), ['/sys/fs/cgroup/pids: pids.max=7']);
});

// runc 1.1.5's AllowedDevices, in its order.
const DEFAULT_RULES = [
  'devices.allow=c *:* m',
  'devices.allow=b *:* m',
  'devices.allow=c 1:3 rwm',
  'devices.allow=c 1:8 rwm',
  'devices.allow=c 1:7 rwm',
  'devices.allow=c 5:0 rwm',
  'devices.allow=c 1:5 rwm',
  'devices.allow=c 1:9 rwm',
  'devices.allow=c 136:* rwm',
  'devices.allow=c 5:2 rwm',
  'devices.allow=c 10:200 rwm',
];

test('device rules on v1: the config rules in order, then the defaults', () => {
  const plan = planV1();
  const writes = resourceWrites(
    plan,
    {
      devices: [
        { allow: false, access: 'rwm' },
        { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' },
        { allow: false, type: 'b', major: 8, minor: -1 },
        { allow: true, type: 'c', major: -1, minor: 1, access: 'm' },
      ],
    },
    false,
    defaultDeviceRules({}),
  );
  assert.deepEqual(
    writes.map((w) => `${w.file}=${w.value}`),
    [
      'devices.deny=a *:* rwm',
      'devices.allow=c 10:229 rw',
      'devices.deny=b 8:* rwm',
      'devices.allow=c *:1 m',
      ...DEFAULT_RULES,
    ],
  );
  assert.ok(writes.every((w) => w.dir === '/sys/fs/cgroup/devices/husk/c1'));
  assert.deepEqual(
    writes.slice(0, 5).map((w) => w.from),
    [
      '/linux/resources/devices/0',
      '/linux/resources/devices/1',
      '/linux/resources/devices/2',
      '/linux/resources/devices/3',
      '/linux/resources/devices (defaults)',
    ],
  );
  assert.deepEqual(v1({ devices: [] }), [], 'no rules, no defaults either');
});

test('device rules on v1: a list not starting with an "a" rule starts from deny-all, as runc', () => {
  const writes = resourceWrites(
    planV1(),
    { devices: [{ allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' }] },
    false,
    defaultDeviceRules({}),
  );
  assert.deepEqual(
    writes.slice(0, 3).map((w) => `${w.file}=${w.value} (${w.from})`),
    [
      'devices.deny=a *:* rwm (/linux/resources/devices (defaults))',
      'devices.deny=c 10:229 rwm (/linux/resources/devices/0)',
      'devices.allow=c *:* m (/linux/resources/devices (defaults))',
    ],
  );
});

test('linux.devices nodes get no rule of their own; a default whose path they give is dropped, as runc', () => {
  const spec = {
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      devices: [
        { path: '/dev/kmsg', type: 'c', major: 1, minor: 11 },
        { path: '/dev/null', type: 'c', major: 1, minor: 3 },
      ],
    },
  };
  const plan = planCgroups(spec, hostV1(), 'c1');
  const rules = plan.writes.filter((w) => w.file.startsWith('devices.')).map((w) => `${w.file}=${w.value}`);
  assert.deepEqual(rules, ['devices.deny=a *:* rwm', ...DEFAULT_RULES.filter((r) => !/ 1:3 /.test(r))]);
});

test('each write names its config field', () => {
  const w = resourceWrites(
    planV2(),
    {
      memory: { limit: 1, reservation: 1, swap: 2 },
      cpu: { shares: 2, quota: 1000, cpus: '0', mems: '0' },
      pids: { limit: 1 },
    },
    true,
  );
  assert.deepEqual(
    w.map((x) => x.from),
    [
      '/linux/resources/memory/limit',
      '/linux/resources/memory/reservation',
      '/linux/resources/memory/swap',
      '/linux/resources/cpu/shares',
      '/linux/resources/cpu/quota',
      '/linux/resources/cpu/cpus',
      '/linux/resources/cpu/mems',
      '/linux/resources/pids/limit',
    ],
  );
  assert.ok(w.every((x) => x.dir === '/sys/fs/cgroup/husk/c1'));
});

test('a missing controller is an error naming the field', () => {
  const noPids = hostV1();
  noPids.v1 = noPids.v1.filter((h) => !h.controllers.includes('pids'));
  throwsHusk(
    () => planCgroups({ linux: { resources: { pids: { limit: 10 } } } }, noPids, 'c1'),
    /^\/linux\/resources\/pids\/limit: the pids cgroup controller is not available/,
  );
  const noCpuset = hostV1();
  noCpuset.v1 = noCpuset.v1.filter((h) => !h.controllers.includes('cpuset'));
  throwsHusk(
    () => planCgroups({ linux: { resources: { cpu: { mems: '0' } } } }, noCpuset, 'c1'),
    /^\/linux\/resources\/cpu\/mems: the cpuset cgroup controller/,
  );
  // v2 without a unified mount cannot take any write.
  throwsHusk(
    () => planCgroups({ linux: { resources: { memory: { limit: 1 } } } }, hostV2({ unified: null }), 'c1'),
    /^\/linux\/resources\/memory\/limit: the memory cgroup controller/,
  );
  // cpu is found in the comounted cpu,cpuacct hierarchy: no error for it.
  assert.doesNotThrow(() => planCgroups({ linux: { resources: { cpu: { shares: 5 } } } }, noPids, 'c1'));
});

test('v2: a negative memory reservation is written as "max"', () => {
  assert.deepEqual(v2({ memory: { reservation: -1 } }), ['memory.low=max']);
});

test('v2: cpu quota 0 means no quota, as on v1 (cpu.max "max <period>")', () => {
  assert.deepEqual(v2({ cpu: { quota: 0, period: 100000 } }), ['cpu.max=max 100000']);
});

test('v2: swap 0 means unset, as runc (swap is not disabled)', () => {
  assert.deepEqual(v2({ memory: { limit: 1000, swap: 0 } }), ['memory.max=1000']);
  assert.deepEqual(v1({ memory: { limit: 1000, swap: 0 } }), [
    '/sys/fs/cgroup/memory: memory.limit_in_bytes=1000',
  ]);
});

test('v2: device rules are not silently dropped: they become an eBPF device program', () => {
  const spec = { linux: { resources: { devices: [{ allow: false, access: 'rwm' }] } } };
  const v2facts = { cgroupMode: 'v2', v1: [], unified: '/sys/fs/cgroup', lastCap: 40, kcore: true, euid: 0 };
  const plan = planCgroups(spec, v2facts, 'c1');
  assert.ok(Buffer.isBuffer(plan.devicesProgram) && plan.devicesProgram.length % 8 === 0);
  assert.equal(planCgroups({ linux: {} }, v2facts, 'c1').devicesProgram, null);
  const hybrid = planCgroups(
    spec,
    {
      ...v2facts,
      cgroupMode: 'hybrid',
      v1: [{ mountpoint: '/sys/fs/cgroup/devices', controllers: ['devices'] }],
      unified: '/sys/fs/cgroup/unified',
    },
    'c1',
  );
  assert.equal(hybrid.devicesProgram, null, 'v1 devices files enforce the rules on hybrid hosts');
});

test('device program: last matching rule decides, nothing matching denies, an unconditional rule ends it', () => {
  const { deviceProgram } = load('plan/devices-bpf.js');
  // Interpret the program: enough of eBPF for the instructions the generator emits.
  const run = (prog, type, access, major, minor) => {
    const r = [0, 0, 0, 0, 0, 0, 0];
    const ctx = [(access << 16) | type, major, minor];
    for (let pc = 0; pc < prog.length; pc++) {
      const [code, dst, src, off, imm] = prog[pc];
      if (code === 0x61) r[dst] = ctx[off / 4];
      else if (code === 0x54) r[dst] = (r[dst] & imm) >>> 0;
      else if (code === 0x74) r[dst] = r[dst] >>> imm;
      else if (code === 0xbc) r[dst] = r[src];
      else if (code === 0x55) pc += r[dst] !== imm >>> 0 ? off : 0;
      else if (code === 0x5d) pc += r[dst] !== r[src] ? off : 0;
      else if (code === 0xb7) r[dst] = imm;
      else if (code === 0x95) return r[0];
      else throw new Error(`opcode ${code}`);
    }
    throw new Error('fell off the end');
  };
  const C = 2,
    B = 1,
    R = 2,
    W = 4,
    M = 1;
  const prog = deviceProgram([
    { allow: false, access: 'rwm' },
    { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
    { allow: true, type: 'c', major: 1, minor: 5, access: 'r' },
    { allow: true, type: 'c', major: 136, access: 'rw' },
  ]);
  assert.equal(run(prog, C, R | W, 1, 3), 1, '/dev/null rw');
  assert.equal(run(prog, C, R, 1, 5), 1, '/dev/zero r');
  assert.equal(run(prog, C, W, 1, 5), 0, '/dev/zero w');
  assert.equal(run(prog, C, R, 136, 7), 1, 'any pty');
  assert.equal(run(prog, C, M, 136, 7), 0, 'no mknod of ptys');
  assert.equal(run(prog, B, R, 8, 0), 0, 'a disk');
  assert.equal(
    run(deviceProgram([{ allow: true, type: 'c', major: 1, minor: 3 }]), B, R, 8, 0),
    0,
    'no match: deny',
  );
  const allowAll = deviceProgram([{ allow: true, access: 'rwm' }]);
  assert.equal(run(allowAll, B, R | W | M, 8, 0), 1);
  assert.deepEqual(
    allowAll.slice(-2),
    [
      [0xb7, 0, 0, 0, 1],
      [0x95, 0, 0, 0, 0],
    ],
    'nothing after an unconditional rule',
  );
});

test('realtime CPU on cgroup v2: nothing written, as runc, but a warning says it was ignored', () => {
  const spec = { linux: { resources: { cpu: { realtimeRuntime: 950000, realtimePeriod: 1000000 } } } };
  const v2 = planCgroups(spec, hostV2(), 'c1');
  assert.deepEqual(v2.writes, []);
  assert.equal(v2.warnings.length, 1);
  assert.match(
    v2.warnings[0],
    /^\/linux\/resources\/cpu\/realtimeRuntime: cgroup v2 has no realtime CPU bandwidth/,
  );
  const v1 = planCgroups(spec, hostV1(), 'c1');
  assert.deepEqual(v1.warnings, []);
  assert.deepEqual(
    v1.writes.map((w) => w.file),
    ['cpu.rt_period_us', 'cpu.rt_runtime_us'],
  );
  assert.deepEqual(
    planCgroups({ linux: { resources: { cpu: { shares: 2 } } } }, hostV2(), 'c1').warnings,
    [],
  );
});

// After boot, systemd 252 leaves only "memory pids" in the root's cgroup.subtree_control: a
// container with a CPU limit found no cpu.weight (issue 18). The plan names what to enable.
const V2_CONTROLLERS = ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'];

test('planCgroups, v2: the controllers the limits need are enabled from the root down', () => {
  const spec = {
    linux: { resources: { cpu: { shares: 512, cpus: '0' }, memory: { limit: 1 << 24 }, pids: { limit: 9 } } },
  };
  const p = planCgroups(spec, hostV2({ unifiedControllers: V2_CONTROLLERS }), 'c1');
  assert.deepEqual(p.enable, [
    { dir: '/sys/fs/cgroup', controllers: ['cpuset', 'cpu', 'memory', 'pids'] },
    { dir: '/sys/fs/cgroup/husk', controllers: ['cpuset', 'cpu', 'memory', 'pids'] },
  ]);
});

test('planCgroups, v2: a deep cgroupsPath enables every level; unified keys count; cgroup.* needs none', () => {
  const spec = {
    linux: {
      cgroupsPath: '/a/b/c',
      resources: { unified: { 'io.weight': '50', 'cgroup.max.depth': '3', 'memory.high': '1000000' } },
    },
  };
  const p = planCgroups(spec, hostV2({ unifiedControllers: V2_CONTROLLERS }), 'c1');
  assert.deepEqual(
    p.enable.map((e) => e.dir),
    ['/sys/fs/cgroup', '/sys/fs/cgroup/a', '/sys/fs/cgroup/a/b'],
  );
  for (const e of p.enable) assert.deepEqual(e.controllers, ['io', 'memory']);
});

test('planCgroups: nothing to enable without limits, for a controller the host lacks, on v1, or for systemd', () => {
  assert.deepEqual(planCgroups({}, hostV2({ unifiedControllers: V2_CONTROLLERS }), 'c1').enable, []);
  const rdmaless = planCgroups(
    { linux: { resources: { unified: { 'rdma.max': 'x' } } } },
    hostV2({ unifiedControllers: ['memory', 'pids'] }),
    'c1',
  );
  assert.deepEqual(rdmaless.enable, [], 'not asked for: its write fails naming rdma.max');
  const cpu = { linux: { resources: { cpu: { shares: 512 } } } };
  assert.deepEqual(planCgroups(cpu, hostV1(), 'c1').enable, []);
  // systemd enables its units' controllers from their properties, and would undo ours.
  const sd = planCgroups(cpu, hostV2({ unifiedControllers: V2_CONTROLLERS }), 'c1', {
    base: '/',
    userManager: false,
  });
  assert.deepEqual(sd.enable, []);
});

test('planCgroups, hybrid: hugetlb in the unified hierarchy is enabled there', () => {
  const spec = { linux: { resources: { hugepageLimits: [{ pageSize: '2MB', limit: 2097152 }] } } };
  const p = planCgroups(spec, hostHybrid({ unifiedControllers: ['hugetlb'], v1: [] }), 'c1');
  assert.deepEqual(p.enable, [
    { dir: '/sys/fs/cgroup/unified', controllers: ['hugetlb'] },
    { dir: '/sys/fs/cgroup/unified/husk', controllers: ['hugetlb'] },
  ]);
});
