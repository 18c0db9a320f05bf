// CVE-2016-9962 class: a process the container can see (one in its pid namespace) must hold no
// handle on the host. In every exec plan the fork into the pid namespace comes after the last
// op that opens or uses a host fd (host procfs, cgroup directory, console socket), with SEAL
// (which closes them and leaves the host cwd) right before it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, hostV2, hostHybrid, names } from './helpers.mjs';

const { buildExecPlan } = load('plan/exec.js');
const { splitCgroupDirs } = load('plan/cgroup-join.js');

// Ops that work through the host procfs handle, a host path or the console socket.
const NEEDS_HOST = new Set([
  'OOM_SCORE_ADJ',
  'JOIN_CGROUP',
  'CGROUP_INTO',
  'SETNS',
  'PROC_WRITE',
  'CONSOLE',
  'SYSCTL',
]);

function assertSealedBeforePidFork(ops, what) {
  const n = names(ops);
  const fork = n.lastIndexOf('FORK_INIT');
  assert.ok(fork >= 0, `${what}: no fork: ${n.join(' ')}`);
  assert.equal(
    n[fork - 1],
    'SEAL',
    `${what}: the pid-namespace fork is not right after SEAL: ${n.join(' ')}`,
  );
  const late = n.slice(fork).filter((x) => NEEDS_HOST.has(x));
  assert.deepEqual(late, [], `${what}: host-fd ops after the fork into the pid namespace: ${n.join(' ')}`);
  assert.equal(n.filter((x) => x === 'SEAL').length, 1, `${what}: one SEAL`);
}

const lsmHost = (h) => ({ ...h, apparmor: true, selinux: true });

test('exec plans: the fork into the pid namespace comes after every op that needs a host fd', () => {
  const cases = [];
  for (const [hostName, host, unified, dirs] of [
    ['v2', hostV2(), '/sys/fs/cgroup', ['/sys/fs/cgroup/husk/c1']],
    [
      'hybrid',
      hostHybrid(),
      '/sys/fs/cgroup/unified',
      ['/sys/fs/cgroup/memory/husk/c1', '/sys/fs/cgroup/unified/husk/c1'],
    ],
  ])
    for (const userns of [false, true])
      for (const terminal of [false, true])
        for (const selfJoin of [false, true])
          for (const lsm of [false, true])
            cases.push({
              what: `${hostName} userns=${userns} terminal=${terminal} selfJoin=${selfJoin} lsm=${lsm}`,
              host: lsm ? lsmHost(host) : host,
              input: {
                initPid: 42,
                namespaces: [...(userns ? ['user'] : []), 'ipc', 'uts', 'network', 'pid', 'cgroup', 'mount'],
                joinCgroups: !selfJoin,
                cgroupJoin: selfJoin ? splitCgroupDirs(dirs, unified) : undefined,
                process: {
                  args: ['true'],
                  cwd: '/',
                  user: { uid: 0, gid: 0 },
                  terminal,
                  oomScoreAdj: 100,
                  ...(lsm ? { apparmorProfile: 'p', selinuxLabel: 'l' } : {}),
                },
                consoleSocket: true,
              },
            });
  for (const c of cases) {
    const plan = buildExecPlan(c.input, c.host);
    assertSealedBeforePidFork(plan.ops, c.what);
    const n = names(plan.ops);
    const fork = n.lastIndexOf('FORK_INIT');
    // What the seal must not take away from what follows: the terminal in its own session.
    if (c.input.process.terminal) assert.deepEqual(n.slice(fork + 1, fork + 3), ['SETSID', 'CTTY'], c.what);
    // Made in its cgroup2 directory by a first fork, before any namespace: two forks.
    const into = n.includes('CGROUP_INTO');
    assert.equal(n.filter((x) => x === 'FORK_INIT').length, into ? 2 : 1, `${c.what}: ${n.join(' ')}`);
    if (into) assert.ok(n.indexOf('FORK_INIT') < n.indexOf('SETNS'), `${c.what}: cgroup fork first`);
    // Every namespace, the cgroup one included, is joined before the pid-namespace fork.
    assert.equal(n.slice(0, fork).filter((x) => x === 'SETNS').length, c.input.namespaces.length, c.what);
  }
});

// --- create: an init joining a pid namespace by path (a pod's shared one) ---------------------

const { buildPlan } = load('plan/index.js');
const { defaultSpec } = load('spec/default-config.js');

function joiningSpec(mutate = () => {}) {
  const spec = defaultSpec();
  spec.root = { path: 'rootfs' };
  spec.process.terminal = true;
  spec.process.apparmorProfile = 'p';
  spec.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
  spec.linux.namespaces = spec.linux.namespaces.map((n) =>
    n.type === 'pid' ? { type: 'pid', path: '/proc/7/ns/pid' } : n,
  );
  mutate(spec);
  return spec;
}

// The ops that work through the host procfs handle, the rootfs handle or a host path.
const NEEDS_HOST_CREATE = new Set([
  ...NEEDS_HOST,
  'ROOT_PROPAGATION',
  'BIND_ROOTFS',
  'MOUNT_CGROUP_V1',
  'PROPAGATION',
  'MKNOD',
  'SYMLINK',
  'PIVOT_ROOT',
  'HOOK',
  'IDMAP_TREE',
]);

test('create joining a pid namespace: the fork into it comes after the rootfs, pivot_root and every host-fd op; procfs and its masks after', () => {
  for (const [hostName, host] of [
    ['v2', hostV2({ apparmor: true })],
    ['hybrid', hostHybrid({ apparmor: true })],
  ]) {
    const plan = buildPlan(joiningSpec(), host, { id: 'c1', bundle: '/b', consoleSocket: true });
    const n = names(plan.ops);
    const fork = n.indexOf('FORK_INIT');
    assert.equal(n.filter((x) => x === 'FORK_INIT').length, 1, n.join(' '));
    assert.equal(n[fork - 1], 'SEAL', `${hostName}: ${n.join(' ')}`);
    assert.ok(n.indexOf('PIVOT_ROOT') < fork, `${hostName}: pivot_root before the fork`);
    assert.ok(!n.includes('CGROUP_INTO'), `${hostName}: no cgroup fd for CLONE_INTO_CGROUP`);
    const after = plan.ops.slice(fork + 1);
    // After the fork: the only mount is procfs made there (kind 5), then the /proc masks, which
    // name their fds through it.
    const mounts = after.filter((o) => o.op === 'MOUNT');
    assert.deepEqual(
      mounts.map((o) => [o.fields[0].u32, o.fields[2].str]),
      [[5, '/proc']],
      hostName,
    );
    const bad = after.filter(
      (o) =>
        NEEDS_HOST_CREATE.has(o.op) &&
        !(o.op === 'MOUNT' && o.fields[0].u32 === 4) &&
        !(['MASK_PATH', 'READONLY_PATH'].includes(o.op) && /^\/proc(\/|$)/.test(o.fields[0].str)),
    );
    assert.deepEqual(names(bad), [], `${hostName}: host-fd ops after the fork: ${n.join(' ')}`);
    const procMasks = plan.ops.filter(
      (o) => ['MASK_PATH', 'READONLY_PATH'].includes(o.op) && /^\/proc(\/|$)/.test(o.fields[0].str),
    );
    assert.ok(procMasks.length > 0);
    for (const o of procMasks) assert.ok(plan.ops.indexOf(o) > fork, `${o.fields[0].str} after the fork`);
    assert.ok(n.indexOf('MASK_PATH') < fork, 'masks outside /proc (e.g. /sys/firmware) before the fork');
    assert.deepEqual(n.slice(fork + 1, fork + 3), ['SETSID', 'CTTY']);
    assert.ok(n.indexOf('PROC_WRITE') < fork && n.indexOf('CONSOLE') < fork && n.indexOf('SYSCTL') < fork);
  }
});

test('create with a new pid namespace keeps its early fork (nobody can look into it)', () => {
  const spec = joiningSpec((s) => {
    s.linux.namespaces = s.linux.namespaces.map((x) => (x.type === 'pid' ? { type: 'pid' } : x));
  });
  const n = names(
    buildPlan(spec, hostV2({ apparmor: true }), { id: 'c1', bundle: '/b', consoleSocket: true }).ops,
  );
  assert.ok(!n.includes('SEAL'), n.join(' '));
  assert.ok(n.indexOf('FORK_INIT') < n.indexOf('BIND_ROOTFS'), n.join(' '));
});

test('create joining a pid namespace: a mount under /proc is refused, naming the entry', () => {
  const spec = joiningSpec((s) => {
    s.mounts.push({
      destination: '/proc/meminfo',
      type: 'bind',
      source: '/var/lib/lxcfs/proc/meminfo',
      options: ['bind'],
    });
  });
  const i = spec.mounts.length - 1;
  assert.throws(
    () => buildPlan(spec, hostV2({ apparmor: true }), { id: 'c1', bundle: '/b', consoleSocket: true }),
    new RegExp(`/mounts/${i}/destination: /proc/meminfo: a mount under /proc is not supported`),
  );
});
