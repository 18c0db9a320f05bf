// sysctl namespacing, scheduling, personality, LSM labels, seccomp normalisation, the exec plan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { planSysctls, sysctlNamespace } = require('../../out/plan/sysctl.js');
const { planScheduling, planPersonality } = require('../../out/plan/scheduling.js');
const { planLsm } = require('../../out/plan/lsm.js');
const { planSeccomp, archName } = require('../../out/plan/seccomp.js');
const { buildExecPlan } = require('../../out/plan/exec.js');

const host = {
  cgroupMode: 'hybrid',
  v1: [],
  unified: '/sys/fs/cgroup/unified',
  lastCap: 40,
  kcore: true,
  euid: 0,
  apparmor: false,
  selinux: false,
};

test('sysctl keys map to their namespace', () => {
  assert.equal(sysctlNamespace('net.ipv4.ip_forward'), 'network');
  assert.equal(sysctlNamespace('kernel.shmmax'), 'ipc');
  assert.equal(sysctlNamespace('fs.mqueue.msg_max'), 'ipc');
  assert.equal(sysctlNamespace('kernel.hostname'), 'uts');
  assert.equal(sysctlNamespace('kernel.pid_max'), null);
  assert.equal(sysctlNamespace('vm.swappiness'), null);
});

test('sysctls: allowed only with the namespace, never host-wide keys or path tricks', () => {
  const ops = planSysctls({ 'net.ipv4.ip_forward': '1' }, new Set(['network']));
  assert.deepEqual(ops[0].fields, [{ str: 'net.ipv4.ip_forward' }, { str: '1' }]);
  assert.throws(
    () => planSysctls({ 'net.ipv4.ip_forward': '1' }, new Set(['ipc'])),
    /needs the container to have its own network namespace/,
  );
  assert.throws(() => planSysctls({ 'kernel.pid_max': '10' }, new Set(['ipc', 'network'])), /not namespaced/);
  assert.throws(() => planSysctls({ 'net/../../kernel/x': '1' }, new Set(['network'])), /not a sysctl name/);
  assert.throws(() => planSysctls({ 'net..x': '1' }, new Set(['network'])), /not a sysctl name/);
});

test('ioPriority and scheduler become numbers; bad values are errors naming the field', () => {
  const [io] = planScheduling({ ioPriority: { class: 'IOPRIO_CLASS_BE', priority: 4 } });
  assert.deepEqual(io.fields, [{ u32: (2 << 13) | 4 }]);
  assert.throws(
    () => planScheduling({ ioPriority: { class: 'IOPRIO_CLASS_BE', priority: 9 } }),
    /\/process\/ioPriority\/priority/,
  );
  const [s] = planScheduling({
    scheduler: { policy: 'SCHED_BATCH', nice: -5, flags: ['SCHED_FLAG_RESET_ON_FORK'] },
  });
  assert.equal(s.op, 'SCHEDULER');
  assert.deepEqual(s.fields.slice(0, 3), [{ u32: 3 }, { u64: 1 }, { u32: -5 >>> 0 }]);
  assert.throws(() => planScheduling({ scheduler: { policy: 'SCHED_FOO' } }), /\/process\/scheduler\/policy/);
  assert.deepEqual(planScheduling({}), []);
});

test('personality: LINUX32 is 8; flags are refused', () => {
  assert.deepEqual(planPersonality({ linux: { personality: { domain: 'LINUX32' } } })[0].fields, [
    { u64: 8 },
  ]);
  assert.throws(
    () => planPersonality({ linux: { personality: { domain: 'LINUX', flags: ['x'] } } }),
    /flags/,
  );
});

test('LSM labels: written before exec when the host has the LSM, an error when it has not', () => {
  assert.throws(() => planLsm({ apparmorProfile: 'p' }, null, host), /AppArmor is not enabled/);
  assert.throws(() => planLsm({ selinuxLabel: 'l' }, null, host), /SELinux is not enabled/);
  assert.throws(() => planLsm({}, { linux: { mountLabel: 'm' } }, host), /mountLabel/);
  const [a] = planLsm({ apparmorProfile: 'p' }, null, { apparmor: true, selinux: false });
  assert.deepEqual(a.fields, [{ str: '/proc/self/attr/apparmor/exec' }, { str: 'exec p' }]);
  assert.deepEqual(planLsm({}, null, host), []);
});

test('seccomp: actions carry their errno, default-action rules are dropped, same-arg conditions split', () => {
  const r = planSeccomp({
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 38,
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
    flags: ['SECCOMP_FILTER_FLAG_LOG'],
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
      { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      { names: ['chmod'], action: 'SCMP_ACT_ERRNO' },
      {
        names: ['personality'],
        action: 'SCMP_ACT_ALLOW',
        args: [
          { index: 0, value: 0, op: 'SCMP_CMP_EQ' },
          { index: 0, value: 8, op: 'SCMP_CMP_EQ' },
        ],
      },
      {
        names: ['clone'],
        action: 'SCMP_ACT_ALLOW',
        args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
      },
    ],
  });
  assert.equal(r.defaultAction, (0x00050000 | 38) >>> 0);
  assert.deepEqual(r.arches, ['x86_64', 'x86']);
  assert.equal(r.flags, 2);
  const names = r.rules.map((x) => x.name);
  assert.deepEqual(names, ['read', 'write', 'chmod', 'personality', 'personality', 'clone']);
  assert.equal(r.rules[2].action, (0x00050000 | 1) >>> 0, 'ERRNO defaults to EPERM');
  assert.equal(r.rules[3].conds.length, 1);
  assert.equal(r.rules[5].conds[0].op, 7);
  assert.equal(r.rules[5].conds[0].a, 0x7e020000n);
  assert.equal(archName('SCMP_ARCH_AARCH64'), 'aarch64');
});

test('seccomp: unknown actions, ops and flags are errors', () => {
  assert.throws(
    () => planSeccomp({ defaultAction: 'SCMP_ACT_FOO' }),
    /defaultAction: unknown seccomp action/,
  );
  assert.throws(
    () =>
      planSeccomp({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [
          { names: ['x'], action: 'SCMP_ACT_KILL', args: [{ index: 0, value: 1, op: 'SCMP_CMP_FOO' }] },
        ],
      }),
    /args\/0\/op/,
  );
  assert.throws(() => planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['NOPE'] }), /flags\/0/);
  assert.equal(planSeccomp(undefined), null);
});

test('seccomp NOTIFY: a listener is asked for; the rules that would deadlock the hand-over are refused', () => {
  const notify = (extra = {}) => ({
    defaultAction: 'SCMP_ACT_ALLOW',
    listenerPath: '/run/agent.sock',
    syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }],
    ...extra,
  });
  const r = planSeccomp(notify());
  assert.equal(r.notify, true);
  assert.equal(r.rules[0].action, 0x7fc00000);
  assert.equal(r.flags & 8, 8, 'SECCOMP_FILTER_FLAG_NEW_LISTENER');
  assert.equal(planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/x' }).notify, false);
  assert.equal(planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/x' }).flags & 8, 0);
  assert.throws(
    () => planSeccomp(notify({ listenerPath: undefined })),
    /^HuskError: \/linux\/seccomp\/listenerPath: SCMP_ACT_NOTIFY needs/,
  );
  assert.throws(() => planSeccomp(notify({ listenerPath: '' })), /\/linux\/seccomp\/listenerPath/);
  assert.throws(
    () => planSeccomp(notify({ listenerPath: '@abstract' })),
    /listenerPath: "@abstract" must be an absolute path/,
  );
  assert.throws(
    () => planSeccomp(notify({ defaultAction: 'SCMP_ACT_NOTIFY' })),
    /\/linux\/seccomp\/defaultAction: SCMP_ACT_NOTIFY cannot be the default/,
  );
  for (const name of ['write', 'sendmsg'])
    assert.throws(
      () => planSeccomp(notify({ syscalls: [{ names: ['mkdir', name], action: 'SCMP_ACT_NOTIFY' }] })),
      new RegExp(`/linux/seccomp/syscalls/0/names/1: SCMP_ACT_NOTIFY cannot be used for the ${name} syscall`),
    );
  // Not notified, write and sendmsg are anybody's business.
  assert.equal(
    planSeccomp(notify({ syscalls: [{ names: ['write'], action: 'SCMP_ACT_ERRNO' }] })).notify,
    false,
  );
});

test('seccomp NOTIFY: loaded before the ready stage, with or without no_new_privs', () => {
  const sc = {
    defaultAction: 'SCMP_ACT_ALLOW',
    listenerPath: '/run/agent.sock',
    syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }],
  };
  for (const nnp of [false, true]) {
    for (const withNotify of [false, true]) {
      const seccomp = withNotify ? sc : { ...sc, syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] };
      const plan = buildExecPlan(
        {
          initPid: 42,
          namespaces: ['mount'],
          joinCgroups: false,
          process: { args: ['true'], cwd: '/', user: { uid: 0, gid: 0 }, noNewPrivileges: nnp },
          consoleSocket: false,
          seccomp,
        },
        host,
      );
      const names = plan.ops.map((o) => o.op);
      const at = names.indexOf('SECCOMP');
      const ready = plan.ops.findIndex((o) => o.op === 'SYNC' && o.show.stage === 'ready');
      assert.ok(at >= 0, names.join(' '));
      if (withNotify || !nnp) assert.ok(at < ready, `nnp=${nnp} notify=${withNotify}: ${names.join(' ')}`);
      else assert.equal(names[at + 1], 'EXEC', `nnp without notify: just before exec: ${names.join(' ')}`);
    }
  }
});

test('exec plan: cgroup, setns of every container namespace from /proc/<pid>/ns (user first, mnt last), fork, then identity', () => {
  const plan = buildExecPlan(
    {
      initPid: 4242,
      namespaces: ['mount', 'pid', 'user', 'network'],
      joinCgroups: true,
      process: { user: { uid: 0, gid: 0 }, args: ['true'], cwd: '/', noNewPrivileges: true },
      consoleSocket: false,
      seccomp: {
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }],
      },
    },
    host,
  );
  const ops = plan.ops.map((o) => o.op);
  assert.deepEqual(
    plan.ops.filter((o) => o.op === 'SETNS').map((o) => o.show.path),
    ['/proc/4242/ns/user', '/proc/4242/ns/net', '/proc/4242/ns/pid', '/proc/4242/ns/mnt'],
  );
  assert.equal(ops[0], 'SYNC');
  assert.ok(ops.indexOf('FORK_INIT') > ops.lastIndexOf('SETNS'));
  assert.ok(!ops.includes('WAIT_START'), 'exec does not wait for start');
  assert.deepEqual(ops.slice(-2), ['SECCOMP', 'EXEC'], 'with NNP the filter goes last');
  assert.ok(plan.seccomp);
  assert.throws(
    () =>
      buildExecPlan(
        {
          initPid: 1,
          namespaces: [],
          joinCgroups: false,
          process: { user: { uid: 0, gid: 0 }, args: ['sh'], cwd: '/', terminal: true },
          consoleSocket: false,
        },
        host,
      ),
    /terminal needs --console-socket/,
  );
});
