// src/plan/index.ts buildPlan: the stage order of the whole launch plan, its errors, and every
// engine-written fixture planned on v1, v2 and hybrid hosts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  load,
  hostV1,
  hostV2,
  hostHybrid,
  hostNone,
  fixtures,
  throwsHusk,
  names,
  clone,
} from './helpers.mjs';

const { buildPlan } = load('plan/index.js');
const { defaultSpec } = load('spec/default-config.js');

const OPTS = { id: 'c1', bundle: '/b', consoleSocket: true };

// Runs of one op collapse to "OPxN" so an order assertion reads like the plan.
function collapse(ops) {
  const out = [];
  for (const n of names(ops)) {
    const last = out.at(-1);
    const m = last && /^(\w+?)(?:x(\d+))?$/.exec(last);
    if (m && m[1] === n) out[out.length - 1] = `${n}x${Number(m[2] ?? 1) + 1}`;
    else out.push(n);
  }
  return out;
}

function fullSpec(extraLinux = {}, extra = {}) {
  return {
    ociVersion: '1.3.0',
    root: { path: 'rootfs' },
    hostname: 'box',
    domainname: 'example.org',
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      cwd: '/',
      noNewPrivileges: true,
      oomScoreAdj: -500,
      rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1048576, hard: 1048576 }],
    },
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    linux: {
      namespaces: [
        { type: 'pid' },
        { type: 'network', path: '/run/netns/n1' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        { type: 'user', path: '/proc/42/ns/user' },
      ],
      // sysctls need their namespaces: only with the default namespace list.
      ...(extraLinux.namespaces ? {} : { sysctl: { 'net.ipv4.ip_forward': '1', 'kernel.msgmax': '8192' } }),
      maskedPaths: ['/proc/kcore'],
      readonlyPaths: ['/proc/sys'],
      ...extraLinux,
    },
    ...extra,
  };
}

const ROOTFS_PART = [
  'ROOT_PROPAGATION',
  'BIND_ROOTFS',
  'MOUNT',
  'MKNODx6',
  'SYMLINKx6',
  'PIVOT_ROOT',
  'REOPEN_DEV_NULL',
];
const TAIL = [
  'HOSTNAME',
  'DOMAINNAME',
  'SYSCTLx2',
  'CONSOLE',
  'CTTY',
  'MASK_PATH',
  'READONLY_PATH',
  'RLIMIT',
  'CHDIR',
  'HOME_FROM_PASSWD',
  'CAPS_BOUNDING',
  'KEEP_CAPS',
  'CREDS',
  'CAPS_SET',
  'UMASK',
  'NO_NEW_PRIVS',
  'LOOKUP_EXEC',
  'SYNC',
  'WAIT_START',
  'EXEC',
];

test('stage order, joined user namespace: oom score, cgroup sync, join, setns user, other setns, unshare, fork, ... exec', () => {
  const plan = buildPlan(fullSpec(), hostV2(), OPTS);
  assert.deepEqual(collapse(plan.ops), [
    'OOM_SCORE_ADJ',
    'SYNC',
    'JOIN_CGROUP',
    'SETNSx2',
    'UNSHARE',
    'FORK_INIT',
    'SETSID',
    'SESSION_KEYRING',
    ...ROOTFS_PART,
    ...TAIL,
  ]);
  assert.deepEqual(
    plan.ops.filter((o) => o.op === 'SETNS').map((o) => o.show.type),
    ['user', 'network'],
  );
  assert.equal(plan.ops[1].show.stage, 'cgroup');
  assert.deepEqual(plan.ops[1].fields, [{ u32: 1 }]);
  assert.deepEqual(plan.ops[1].show.dirs, ['/sys/fs/cgroup/husk/c1']);
  // A user namespace: the init cannot be made in its cgroup2 directory at the fork (see
  // planCgroupJoin), so it writes cgroup.procs before joining anything.
  assert.deepEqual(plan.ops[2].fields, [{ str: '/sys/fs/cgroup/husk/c1/cgroup.procs' }]);
  assert.equal(plan.cgroupSelfJoin, true);
  assert.equal(plan.cgroupProcsWrite, true);
  const ready = plan.ops.at(-3);
  assert.equal(ready.show.stage, 'ready');
  assert.deepEqual(ready.fields, [{ u32: 10 }]);
  assert.deepEqual(plan.ops.find((o) => o.op === 'UNSHARE').fields, [
    { u64: 0x20000000 | 0x08000000 | 0x04000000 | 0x00020000 },
  ]);
  assert.deepEqual(plan.ops.find((o) => o.op === 'OOM_SCORE_ADJ').fields, [{ str: '-500' }]);
  assert.deepEqual(plan.ops.find((o) => o.op === 'HOSTNAME').fields, [{ str: 'box' }]);
  assert.deepEqual(plan.ops.find((o) => o.op === 'DOMAINNAME').fields, [{ str: 'example.org' }]);
  assert.deepEqual(
    plan.ops.filter((o) => o.op === 'SYSCTL').map((o) => [o.from, o.fields]),
    [
      ['/linux/sysctl/net.ipv4.ip_forward', [{ str: 'net.ipv4.ip_forward' }, { str: '1' }]],
      ['/linux/sysctl/kernel.msgmax', [{ str: 'kernel.msgmax' }, { str: '8192' }]],
    ],
  );
  assert.deepEqual(plan.ops.find((o) => o.op === 'RLIMIT').fields, [
    { u32: 7 },
    { u64: 1048576 },
    { u64: 1048576 },
  ]);
  assert.equal(plan.rootfs, '/b/rootfs');
  assert.equal(plan.cgroups.relPath, '/husk/c1');
  assert.deepEqual(plan.warnings, []);
});

const NEW_USER = {
  namespaces: [
    { type: 'pid' },
    { type: 'network', path: '/run/netns/n1' },
    { type: 'uts' },
    { type: 'mount' },
    { type: 'user' },
  ],
  uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
  gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
};

test('stage order, new user namespace: every setns by path first, then USERNS, then unshare', () => {
  const plan = buildPlan(fullSpec(NEW_USER), hostV2(), OPTS);
  assert.deepEqual(collapse(plan.ops).slice(0, 8), [
    'OOM_SCORE_ADJ',
    'SYNC',
    'JOIN_CGROUP',
    'SETNS',
    'USERNS',
    'UNSHARE',
    'FORK_INIT',
    'SETSID',
  ]);
  const userns = plan.ops.find((o) => o.op === 'USERNS');
  assert.deepEqual(userns.show, { uidMap: '0 100000 65536\n', gidMap: '0 100000 65536\n' });
  assert.equal(plan.namespaces.newUser, true);
  assert.equal(plan.ops.find((o) => o.op === 'UNSHARE').fields[0].u64 & 0x10000000, 0);
});

test('with a new user namespace, namespaces given by path are joined before the user namespace is made', () => {
  const ops = names(buildPlan(fullSpec(NEW_USER), hostV2(), OPTS).ops);
  assert.ok(ops.indexOf('SETNS') < ops.indexOf('USERNS'), ops.slice(0, 5).join(' '));
});

test('without host cgroups there is no cgroup sync; OOM score only when asked', () => {
  const spec = fullSpec();
  delete spec.process.oomScoreAdj;
  const plan = buildPlan(spec, hostNone(), OPTS);
  assert.equal(plan.cgroups, null);
  assert.deepEqual(collapse(plan.ops).slice(0, 5), [
    'SETNSx2',
    'UNSHARE',
    'FORK_INIT',
    'SETSID',
    'SESSION_KEYRING',
  ]);
  assert.equal(plan.ops.filter((o) => o.op === 'SYNC').length, 1, 'only the ready sync');
});

test('no new namespaces besides joined ones: no UNSHARE op', () => {
  const spec = fullSpec({ namespaces: [{ type: 'mount', path: '/proc/1/ns/mnt' }] });
  delete spec.hostname;
  delete spec.domainname;
  const ops = names(buildPlan(spec, hostV2(), OPTS).ops);
  assert.ok(!ops.includes('UNSHARE'));
  assert.deepEqual(ops.slice(0, 5), ['OOM_SCORE_ADJ', 'SYNC', 'CGROUP_INTO', 'SETNS', 'FORK_INIT']);
});

test("no mount namespace: the runtime's is shared; chroot, and its root's propagation stays", () => {
  const spec = fullSpec({ namespaces: [{ type: 'pid' }, { type: 'uts' }] });
  delete spec.linux.maskedPaths;
  delete spec.linux.readonlyPaths;
  spec.linux.rootfsPropagation = 'shared';
  const ops = buildPlan(spec, hostV2(), OPTS).ops;
  assert.ok(!names(ops).includes('ROOT_PROPAGATION'), 'the runtime root must not be made rslave');
  assert.ok(!names(ops).includes('PROPAGATION'));
  assert.equal(ops.find((o) => o.op === 'PIVOT_ROOT').show.chrootOnly, true);
  assert.ok(!names(ops).includes('REOPEN_DEV_NULL'), "the host's /dev/null is the one there is");
  // With a mount namespace: pivot_root as before, then stdio's /dev/null from the container's /dev.
  const own = buildPlan(fullSpec({ namespaces: [{ type: 'mount' }, { type: 'uts' }] }), hostV2(), OPTS).ops;
  assert.ok(names(own).includes('ROOT_PROPAGATION'));
  assert.equal(names(own)[names(own).indexOf('PIVOT_ROOT') + 1], 'REOPEN_DEV_NULL');
  assert.equal(own.find((o) => o.op === 'PIVOT_ROOT').show.chrootOnly, false);
});

test('buildPlan errors', () => {
  throwsHusk(
    () =>
      buildPlan(
        fullSpec({ namespaces: [{ type: 'pid' }, { type: 'uts' }], maskedPaths: ['/proc/kcore'] }),
        hostV2(),
        OPTS,
      ),
    /^\/linux\/maskedPaths: masked and read-only paths need a mount namespace of the container's own/,
  );
  throwsHusk(
    () => buildPlan(fullSpec({ namespaces: [{ type: 'mount' }] }), hostV2(), OPTS),
    /^\/hostname: setting a hostname needs a uts namespace/,
  );
  throwsHusk(
    () => buildPlan(fullSpec({ namespaces: [{ type: 'mount' }] }, { hostname: '' }), hostV2(), OPTS),
    /^\/domainname: setting a domainname needs a uts namespace/,
  );
  throwsHusk(
    () => buildPlan(fullSpec(), hostV2(), { ...OPTS, consoleSocket: false }),
    /^\/process\/terminal: a terminal needs --console-socket/,
  );
  throwsHusk(() => buildPlan(fullSpec(), hostV2(), { id: 'c1', bundle: '/b' }), /--console-socket/);
  throwsHusk(
    () => buildPlan(fullSpec({}, { root: undefined }), hostV2(), OPTS),
    /^\/root\/path: is required/,
  );
  throwsHusk(() => buildPlan(fullSpec({ cgroupsPath: 'a:b:c' }), hostV2(), OPTS), /^\/linux\/cgroupsPath: /);
});

test('an empty hostname needs no uts namespace; no terminal needs no console socket', () => {
  const spec = fullSpec({ namespaces: [{ type: 'mount' }] }, { hostname: '', domainname: '' });
  spec.process.terminal = false;
  const ops = names(buildPlan(spec, hostV2(), { id: 'c1', bundle: '/b' }).ops);
  assert.ok(!ops.includes('HOSTNAME') && !ops.includes('DOMAINNAME') && !ops.includes('CONSOLE'));
});

test('warnings from planning reach the plan', () => {
  const spec = fullSpec();
  spec.process.capabilities = { bounding: ['CAP_BPF', 'CAP_KILL'] };
  assert.deepEqual(buildPlan(spec, hostV2({ lastCap: 40 }), OPTS).warnings, []);
  const { warnings } = buildPlan(spec, hostV2({ lastCap: 37 }), OPTS);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /CAP_BPF/);
});

test('hooks run by husk-init: createRuntime sync and createContainer before pivot_root, startContainer after start', () => {
  const spec = fullSpec(
    {},
    {
      hooks: {
        createRuntime: [{ path: '/bin/true' }],
        createContainer: [{ path: '/bin/cc', args: ['cc', '-x'], env: ['A=1'], timeout: 5 }],
        startContainer: [{ path: '/bin/sc' }],
      },
    },
  );
  const ops = buildPlan(spec, hostV2(), OPTS).ops;
  const pivot = ops.findIndex((o) => o.op === 'PIVOT_ROOT');
  assert.deepEqual(
    ops.slice(pivot - 3, pivot + 1).map((o) => `${o.op} ${o.show.stage ?? o.show.path ?? ''}`.trim()),
    ['SYNC createRuntime', 'FETCH_STATE createContainer', 'HOOK /bin/cc', 'PIVOT_ROOT'],
  );
  assert.deepEqual(ops[pivot - 1].fields, [
    { str: '/bin/cc' },
    { strv: ['cc', '-x'] },
    { strv: ['A=1'] },
    { u32: 5 },
  ]);
  // The init's word that the startContainer hooks passed comes after the last of them.
  assert.deepEqual(names(ops.slice(-5)), ['FETCH_STATE', 'WAIT_START', 'HOOK', 'START_HOOKS_PASSED', 'EXEC']);
  assert.deepEqual(ops.at(-5).fields, [{ u32: 10 }]);
  throwsHusk(
    () => buildPlan(fullSpec({}, { hooks: { poststop: [{ path: 'rel' }] } }), hostV2(), OPTS),
    /^\/hooks\/poststop\/0\/path: "rel" must be absolute/,
  );
  throwsHusk(
    () => buildPlan(fullSpec({}, { hooks: { prestart: [{ path: '/x', timeout: 0 }] } }), hostV2(), OPTS),
    /^\/hooks\/prestart\/0\/timeout: /,
  );
});

test('startAtOnce (run): the ready stage is a NOTIFY, answered early; none where hooks or an agent wait for answers', () => {
  const spec = fullSpec();
  const waits = names(buildPlan(clone(spec), hostV2(), OPTS).ops);
  const plan = buildPlan(clone(spec), hostV2(), { ...OPTS, startAtOnce: true });
  const atOnce = names(plan.ops);
  assert.deepEqual(waits.slice(-3), ['SYNC', 'WAIT_START', 'EXEC']);
  assert.deepEqual(atOnce.slice(-2), ['NOTIFY', 'EXEC']);
  assert.deepEqual(plan.ops.at(-2).fields, [{ u32: 10 }]);
  assert.deepEqual(atOnce.slice(0, -2), waits.slice(0, -3));
  // A startContainer hook needs the state at the ready stage: that plan is not run's at-once one.
  const hooked = fullSpec({}, { hooks: { startContainer: [{ path: '/bin/h' }] } });
  const withHook = names(buildPlan(hooked, hostV2(), { ...OPTS, startAtOnce: true }).ops);
  assert.deepEqual(withHook.slice(-3), ['FETCH_STATE', 'HOOK', 'EXEC']);
  // A createRuntime hook's stage, or the seccomp agent's, waits for an answer of its own after
  // the fork: the ready stage is a plain SYNC then, answered when it comes.
  for (const extra of [
    { hooks: { createRuntime: [{ path: '/bin/h' }] } },
    { hooks: { createContainer: [{ path: '/bin/h' }] } },
  ]) {
    const o = names(buildPlan(fullSpec({}, extra), hostV2(), { ...OPTS, startAtOnce: true }).ops);
    assert.deepEqual(o.slice(-2), ['SYNC', 'EXEC'], JSON.stringify(extra));
  }
  const agent = fullSpec({
    seccomp: {
      defaultAction: 'SCMP_ACT_ALLOW',
      listenerPath: '/run/agent.sock',
      syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }],
    },
  });
  const withAgent = names(buildPlan(agent, hostV2(), { ...OPTS, startAtOnce: true }).ops);
  assert.deepEqual(withAgent.slice(-2), ['SYNC', 'EXEC']);
});

// --- fixtures on every layout -----------------------------------------------------------------

const BEFORE_FORK = new Set([
  'OOM_SCORE_ADJ',
  'SYNC',
  'JOIN_CGROUP',
  'SETNS',
  'USERNS',
  'UNSHARE',
  'CGROUP_INTO',
  'SOURCE_HELPER',
  'SOURCE_FDS',
]);

for (const { name, spec } of fixtures()) {
  for (const [layout, mkHost] of Object.entries({ v1: hostV1, v2: hostV2, hybrid: hostHybrid })) {
    test(`${name} builds a plan on ${layout}`, () => {
      const plan = buildPlan(clone(spec), mkHost(), OPTS);
      const ops = names(plan.ops);
      const fork = ops.indexOf('FORK_INIT');
      assert.ok(fork > 0);
      assert.ok(
        ops.slice(0, fork).every((n) => BEFORE_FORK.has(n)),
        ops.slice(0, fork).join(' '),
      );
      assert.equal(plan.ops.find((o) => o.op === 'SYNC').show.stage, 'cgroup');
      // The cgroup namespace is made by the init when it was made in its cgroup2 directory.
      const childUnshare = ops[fork + 1] === 'UNSHARE';
      if (childUnshare) assert.deepEqual(plan.ops[fork + 1].fields, [{ u64: 0x02000000 }]);
      assert.equal(
        childUnshare,
        ops.includes('CGROUP_INTO') && spec.linux.namespaces.some((n) => n.type === 'cgroup'),
      );
      assert.equal(ops[fork + 1 + (childUnshare ? 1 : 0)], 'SETSID');
      assert.equal(ops.filter((n) => n === 'PIVOT_ROOT').length, 1);
      assert.equal(ops.filter((n) => n === 'BIND_ROOTFS').length, 1);
      assert.deepEqual(ops.slice(-3), ['SYNC', 'WAIT_START', 'EXEC']);
      assert.ok(ops.indexOf('LOOKUP_EXEC') < ops.indexOf('WAIT_START'));
      assert.ok(ops.indexOf('PIVOT_ROOT') < ops.indexOf('CHDIR'));
      assert.equal(plan.rootfs, spec.root.path);
      assert.deepEqual(plan.ops.at(-1).fields[0], { strv: spec.process.args });
      assert.equal(ops.includes('HOSTNAME'), !!spec.hostname);
      assert.equal(ops.includes('CONSOLE'), !!spec.process.terminal);
      assert.equal(ops.filter((n) => n === 'RLIMIT').length, spec.process.rlimits.length);
      const cgMount = spec.mounts.some((m) => m.type === 'cgroup');
      assert.equal(ops.includes('MOUNT_CGROUP_V1'), cgMount && layout !== 'v2');
      assert.equal(
        ops.includes('USERNS'),
        spec.linux.namespaces.some((n) => n.type === 'user' && !n.path),
      );
      assert.equal(plan.cgroups.relPath, spec.linux.cgroupsPath ?? '/husk/c1');
    });
  }
}

test('the default spec and its rootless variant build plans on every layout', () => {
  for (const mk of [hostV1, hostV2, hostHybrid]) {
    for (const spec of [defaultSpec(), defaultSpec({ rootless: true })]) {
      const plan = buildPlan(spec, mk(), OPTS);
      assert.equal(plan.ops.at(-1).op, 'EXEC');
    }
  }
});

test('every op can be printed as JSON (husk plan, --debug)', () => {
  const plan = buildPlan(defaultSpec(), hostV2(), OPTS);
  for (const o of plan.ops) assert.doesNotThrow(() => JSON.stringify(o.show), o.op);
});

test('a seccomp profile is not silently ignored', () => {
  const spec = fullSpec({
    seccomp: {
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [{ names: ['getcwd'], action: 'SCMP_ACT_ALLOW' }],
    },
  });
  let plan;
  try {
    plan = buildPlan(spec, hostV2(), OPTS);
  } catch (e) {
    assert.match(e.message, /seccomp/);
    return;
  }
  assert.ok(plan.ops.some((o) => o.op === 'SECCOMP') || plan.warnings.some((w) => /seccomp/i.test(w)));
});

test('LSM exec labels reach the built plan, before the cwd change closes the procfs handle (create and exec)', () => {
  const host = { ...hostV2(), apparmor: true, selinux: true };
  const spec = fullSpec();
  spec.process.apparmorProfile = 'husk-test';
  spec.process.selinuxLabel = 'system_u:system_r:container_t:s0';
  const ops = buildPlan(spec, host, OPTS).ops;
  const writes = ops.filter((o) => o.op === 'PROC_WRITE').map((o) => o.fields[0].str);
  assert.deepEqual(writes, ['/proc/self/attr/apparmor/exec', '/proc/self/attr/exec']);
  const n = names(ops);
  assert.ok(n.lastIndexOf('PROC_WRITE') < n.indexOf('CHDIR'), n.join(' '));
  const { buildExecPlan } = load('plan/exec.js');
  const exec = buildExecPlan(
    {
      initPid: 42,
      namespaces: ['mount'],
      joinCgroups: false,
      process: { ...spec.process, terminal: false, args: ['true'] },
      consoleSocket: false,
    },
    host,
  );
  const en = names(exec.ops);
  assert.equal(en.filter((x) => x === 'PROC_WRITE').length, 2, en.join(' '));
  assert.ok(en.lastIndexOf('PROC_WRITE') < en.indexOf('CHDIR'), en.join(' '));
});

// --- how the init enters its cgroups (planCgroupJoin) ---------------------------------------

const NS_PLAIN = [
  { type: 'pid' },
  { type: 'mount' },
  { type: 'network' },
  { type: 'uts' },
  { type: 'cgroup' },
];

function joinPlan(host, linux = {}, opts = OPTS) {
  const spec = fullSpec({ namespaces: NS_PLAIN, ...linux });
  if (!linux.uidMappings) delete spec.linux.uidMappings;
  if (!linux.gidMappings) delete spec.linux.gidMappings;
  return buildPlan(spec, host, opts);
}

test('cgroup v1: the first process moves its only thread into each hierarchy (tasks), then makes the cgroup namespace', () => {
  const plan = joinPlan(hostV1());
  const ops = names(plan.ops);
  const joins = plan.ops.filter((o) => o.op === 'JOIN_CGROUP');
  assert.deepEqual(
    joins.map((o) => o.fields[0].str),
    plan.cgroups.v1.map((h) => `${h.dir}/tasks`),
  );
  assert.ok(joins.every((o) => o.from === '/linux/cgroupsPath'));
  assert.equal(ops.indexOf('JOIN_CGROUP'), ops.indexOf('SYNC') + 1);
  assert.ok(!ops.includes('CGROUP_INTO'));
  // No cgroup2 directory: the first process makes the cgroup namespace, after the joins and
  // before the fork; the other new namespaces were made before the cgroup stage.
  const unshares = plan.ops.filter((o) => o.op === 'UNSHARE');
  assert.deepEqual(
    unshares.map((o) => o.fields[0].u64),
    [0x20000000 | 0x00020000 | 0x40000000 | 0x04000000, 0x02000000],
  );
  assert.ok(ops.indexOf('UNSHARE') < ops.indexOf('SYNC'));
  assert.equal(ops[ops.lastIndexOf('JOIN_CGROUP') + 1], 'UNSHARE');
  assert.equal(ops[ops.lastIndexOf('UNSHARE') + 1], 'FORK_INIT');
  assert.equal(plan.cgroupSelfJoin, true);
  assert.equal(plan.cgroupProcsWrite, false);
});

test('new namespaces are made before the cgroup stage, except the cgroup one and where a user namespace or a joined mount namespace is involved', () => {
  const CGROUP_NS = 0x02000000;
  const syncAt = (ops) => ops.findIndex((o) => o.op === 'SYNC' && o.show.stage === 'cgroup');
  const early = (plan) =>
    plan.ops.slice(0, syncAt(plan.ops)).filter((o) => o.op === 'UNSHARE' || o.op === 'SETNS');
  for (const host of [hostV1(), hostV2(), hostHybrid()]) {
    const plan = joinPlan(host);
    assert.ok(syncAt(plan.ops) > 0);
    const made = early(plan);
    assert.equal(made.length, 1, names(plan.ops).join(' '));
    assert.equal(made[0].fields[0].u64 & CGROUP_NS, 0, 'the cgroup namespace waits for the join');
    // Every namespace asked for is still made, once.
    const all = plan.ops.filter((o) => o.op === 'UNSHARE').reduce((f, o) => f | o.fields[0].u64, 0);
    assert.equal(all, 0x20000000 | 0x00020000 | 0x40000000 | 0x04000000 | CGROUP_NS);
  }
  // A network namespace joined by path is joined early too, before the new ones are made.
  const withNet = joinPlan(hostV2(), {
    namespaces: [
      { type: 'pid' },
      { type: 'mount' },
      { type: 'uts' },
      { type: 'network', path: '/proc/1/ns/net' },
      { type: 'cgroup' },
    ],
  });
  assert.deepEqual(
    early(withNet).map((o) => o.op),
    ['SETNS', 'UNSHARE'],
  );
  // Kept after the cgroup stage: a mount or cgroup namespace joined by path (the cgroup paths
  // are resolved, and the namespace's root taken, in the namespaces the init is in), and a new
  // user namespace (its maps come from the runtime).
  const late = [
    joinPlan(hostV2(), {
      namespaces: [{ type: 'pid' }, { type: 'uts' }, { type: 'mount', path: '/proc/1/ns/mnt' }],
    }),
    joinPlan(hostV2(), {
      namespaces: [
        { type: 'pid' },
        { type: 'mount' },
        { type: 'uts' },
        { type: 'cgroup', path: '/proc/1/ns/cgroup' },
      ],
    }),
    joinPlan(hostV2(), {
      namespaces: [...NS_PLAIN, { type: 'user' }],
      uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
    }),
  ];
  for (const plan of late) {
    const ops = names(plan.ops);
    assert.deepEqual(early(plan), [], ops.join(' '));
    assert.ok(ops.indexOf('SYNC') < ops.indexOf('UNSHARE') || !ops.includes('UNSHARE'), ops.join(' '));
  }
  // No cgroups at all: no cgroup stage, and one unshare of every new namespace.
  const none = joinPlan(hostV2({ cgroupMode: 'none', unified: null }));
  assert.equal(none.cgroups, null);
  assert.equal(syncAt(none.ops), -1);
  assert.deepEqual(
    none.ops.filter((o) => o.op === 'UNSHARE').map((o) => o.fields[0].u64),
    [0x20000000 | 0x00020000 | 0x40000000 | 0x04000000 | CGROUP_NS],
  );
});

test('cgroup2: the init is made in its directory at the fork, and makes the cgroup namespace there', () => {
  const plan = joinPlan(hostV2());
  const ops = names(plan.ops);
  const fork = ops.indexOf('FORK_INIT');
  assert.ok(!ops.includes('JOIN_CGROUP'));
  // Opened right after the cgroup stage (a host path), used by the fork.
  assert.equal(ops[ops.indexOf('SYNC') + 1], 'CGROUP_INTO');
  assert.deepEqual(plan.ops.find((o) => o.op === 'CGROUP_INTO').fields, [{ str: '/sys/fs/cgroup/husk/c1' }]);
  const unshares = plan.ops.filter((o) => o.op === 'UNSHARE');
  assert.equal(unshares[0].fields[0].u64 & 0x02000000, 0, 'not by the first process');
  assert.equal(ops[fork + 1], 'UNSHARE');
  assert.deepEqual(plan.ops[fork + 1].fields, [{ u64: 0x02000000 }]);
  assert.equal(plan.cgroupProcsWrite, false);
});

test('hybrid: tasks for the v1 hierarchies, the fork for the cgroup2 one', () => {
  const plan = joinPlan(hostHybrid());
  const ops = names(plan.ops);
  assert.equal(ops.filter((n) => n === 'JOIN_CGROUP').length, plan.cgroups.v1.length);
  assert.deepEqual(plan.ops.find((o) => o.op === 'CGROUP_INTO').fields, [
    { str: '/sys/fs/cgroup/unified/husk/c1' },
  ]);
});

test('cgroup2 with a cgroup namespace joined by path: the first process writes cgroup.procs', () => {
  const plan = joinPlan(hostV2(), {
    namespaces: [
      { type: 'pid' },
      { type: 'mount' },
      { type: 'uts' },
      { type: 'cgroup', path: '/proc/1/ns/cgroup' },
    ],
  });
  const ops = names(plan.ops);
  assert.ok(!ops.includes('CGROUP_INTO'));
  assert.deepEqual(plan.ops.find((o) => o.op === 'JOIN_CGROUP').fields, [
    { str: '/sys/fs/cgroup/husk/c1/cgroup.procs' },
  ]);
  assert.ok(ops.indexOf('JOIN_CGROUP') < ops.indexOf('SETNS'));
  assert.equal(plan.cgroupProcsWrite, true);
});

test('the runtime joins the init for the systemd driver, without root, and for rootless cgroups', () => {
  const cases = [
    joinPlan(hostV2(), {}, { ...OPTS, systemd: { base: '/', userManager: false } }),
    joinPlan(hostV2({ euid: 1000 }), {
      namespaces: [...NS_PLAIN, { type: 'user' }],
      uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
    }),
    joinPlan(hostV2(), {}, { ...OPTS, cgroupAccess: { uid: 0, canUse: () => true } }),
  ];
  for (const plan of cases) {
    const ops = names(plan.ops);
    assert.ok(!ops.includes('JOIN_CGROUP') && !ops.includes('CGROUP_INTO'), ops.slice(0, 6).join(' '));
    assert.equal(plan.cgroupSelfJoin, false);
    assert.equal(plan.cgroupProcsWrite, true);
  }
});

test('exec: the process enters the cgroups itself; on cgroup2 a first fork makes it there, and it enters the cgroup namespace after', () => {
  const { buildExecPlan } = load('plan/exec.js');
  const { splitCgroupDirs } = load('plan/cgroup-join.js');
  const dirs = [
    '/sys/fs/cgroup/memory/husk/c1',
    '/sys/fs/cgroup/pids/husk/c1',
    '/sys/fs/cgroup/unified/husk/c1',
  ];
  const input = (namespaces) => ({
    initPid: 42,
    namespaces,
    joinCgroups: false,
    cgroupJoin: splitCgroupDirs(dirs, '/sys/fs/cgroup/unified'),
    process: { args: ['true'], cwd: '/', user: { uid: 0, gid: 0 } },
    consoleSocket: false,
  });
  let plan = buildExecPlan(input(['pid', 'mount', 'cgroup']), hostHybrid());
  let ops = names(plan.ops);
  assert.deepEqual(ops.slice(0, 9), [
    'JOIN_CGROUP',
    'JOIN_CGROUP',
    'CGROUP_INTO',
    'FORK_INIT',
    'SETNS',
    'SETNS',
    'SETNS',
    'SEAL',
    'FORK_INIT',
  ]);
  assert.deepEqual(
    plan.ops.filter((o) => o.op === 'JOIN_CGROUP').map((o) => o.fields[0].str),
    ['/sys/fs/cgroup/memory/husk/c1/tasks', '/sys/fs/cgroup/pids/husk/c1/tasks'],
  );
  assert.deepEqual(plan.ops[ops.indexOf('FORK_INIT') + 2].show.type, 'cgroup');
  assert.ok(!ops.includes('SYNC') || ops.indexOf('SYNC') > ops.indexOf('FORK_INIT'), 'no cgroup stage');
  assert.equal(plan.cgroupProcsWrite, false);

  // In a user namespace the fork cannot make it in the cgroup2 directory.
  plan = buildExecPlan(input(['user', 'pid', 'mount', 'cgroup']), hostHybrid());
  ops = names(plan.ops);
  assert.ok(!ops.includes('CGROUP_INTO'));
  assert.deepEqual(plan.ops[2].fields, [{ str: '/sys/fs/cgroup/unified/husk/c1/cgroup.procs' }]);
  assert.ok(ops.indexOf('FORK_INIT') > ops.lastIndexOf('SETNS'));
  assert.equal(plan.cgroupProcsWrite, true);
});

test('startContainer hooks run under the seccomp filter, with and without no_new_privs (as runc 1.1.5)', () => {
  const seccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }],
  };
  const hooks = { startContainer: [{ path: '/bin/sc' }] };
  for (const nnp of [true, false]) {
    const spec = fullSpec({ seccomp }, { hooks });
    spec.process.noNewPrivileges = nnp;
    const n = names(buildPlan(spec, hostV2(), OPTS).ops);
    assert.ok(n.indexOf('SECCOMP') >= 0 && n.indexOf('SECCOMP') < n.indexOf('HOOK'), `nnp ${nnp}: ${n}`);
    // Without hooks, no_new_privs keeps the filter as late as it can be: right before execve.
    const bare = fullSpec({ seccomp });
    bare.process.noNewPrivileges = nnp;
    const b = names(buildPlan(bare, hostV2(), OPTS).ops);
    if (nnp) assert.deepEqual(b.slice(-2), ['SECCOMP', 'EXEC']);
    else assert.ok(b.indexOf('SECCOMP') < b.indexOf('WAIT_START'));
  }
});

test('husk in a user namespace with setgroups "deny": no setgroups call, and additionalGids refused saying why', () => {
  const spec = fullSpec({
    namespaces: [{ type: 'mount' }, { type: 'pid' }, { type: 'uts' }, { type: 'user' }],
  });
  spec.linux.uidMappings = [{ containerID: 0, hostID: 0, size: 1 }];
  spec.linux.gidMappings = [{ containerID: 0, hostID: 0, size: 1 }];
  const creds = (host) =>
    buildPlan(spec, host, OPTS)
      .ops.find((o) => o.op === 'CREDS')
      .fields.at(-1);
  assert.deepEqual(creds(hostV2()), { u32: 1 }, 'root on the host sets the groups');
  assert.deepEqual(creds(hostV2({ setgroupsDenied: true })), { u32: 0 });
  spec.process.user.additionalGids = [5];
  throwsHusk(
    () => buildPlan(spec, hostV2({ setgroupsDenied: true }), OPTS),
    /^\/process\/user\/additionalGids: cannot be set where setgroups is denied/,
  );
});
