// src/runtime/exec-policy.ts: what an exec'd process runs with, from the container's saved
// config, for any caller; and plan/lsm.ts's plain words for a label the kernel refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './helpers.mjs';

const { execPolicy } = load('runtime/exec-policy.js');
const { lsmFailure, planLsm } = load('plan/lsm.js');

const SECCOMP = {
  defaultAction: 'SCMP_ACT_ALLOW',
  syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }],
};
const CAPS = { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] };

function spec() {
  return {
    ociVersion: '1.3.0',
    root: { path: 'rootfs' },
    process: {
      args: ['sleep', '1'],
      cwd: '/',
      env: ['PATH=/bin'],
      user: { uid: 0, gid: 0 },
      capabilities: CAPS,
      rlimits: [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 100 }],
      noNewPrivileges: true,
      apparmorProfile: 'ctr-profile',
      selinuxLabel: 'ctr_t',
    },
    linux: { seccomp: SECCOMP },
  };
}

test('a whole process gets the container’s filter and inherits the policy it leaves out', () => {
  const p = execPolicy(spec(), { process: { args: ['id'], cwd: '/', user: { uid: 5, gid: 5 } } });
  assert.deepEqual(p.seccomp, SECCOMP);
  assert.equal(p.process.apparmorProfile, 'ctr-profile');
  assert.equal(p.process.selinuxLabel, 'ctr_t');
  assert.equal(p.process.noNewPrivileges, true);
  assert.deepEqual(p.process.capabilities, CAPS);
  assert.deepEqual(p.process.rlimits, spec().process.rlimits);
  assert.deepEqual(p.process.user, { uid: 5, gid: 5 });
  // What it says for itself stays.
  const own = execPolicy(spec(), {
    process: { args: ['id'], cwd: '/', user: { uid: 0, gid: 0 }, noNewPrivileges: false, capabilities: {} },
  });
  assert.equal(own.process.noNewPrivileges, false);
  assert.deepEqual(own.process.capabilities, {});
});

test('overrides lay the flags over the container’s process; the filter cannot be dropped', () => {
  const p = execPolicy(spec(), {
    overrides: { args: ['sh'], env: ['A=1'], cwd: '/tmp', uid: 7, additionalGids: [3], terminal: true },
    seccomp: undefined,
  });
  assert.deepEqual(p.seccomp, SECCOMP);
  assert.deepEqual(p.process.args, ['sh']);
  assert.deepEqual(p.process.env, ['PATH=/bin', 'A=1']);
  assert.equal(p.process.cwd, '/tmp');
  assert.deepEqual(p.process.user, { uid: 7, gid: 0, additionalGids: [3] });
  assert.equal(p.process.terminal, true);
  assert.throws(() => execPolicy(spec(), { overrides: { args: [] } }), /give a command/);
});

test('--cap adds to bounding, effective and permitted, never inheritable (CVE-2022-29162); ambient only beside inheritable', () => {
  const p = execPolicy(spec(), { overrides: { args: ['sh'], caps: ['CAP_NET_ADMIN'] } });
  const c = p.process.capabilities;
  for (const k of ['bounding', 'effective', 'permitted'])
    assert.deepEqual(c[k], ['CAP_KILL', 'CAP_NET_ADMIN']);
  assert.equal(c.inheritable, undefined);
  assert.equal(c.ambient, undefined);
  const s = spec();
  s.process.capabilities = { ...CAPS, inheritable: ['CAP_KILL'], ambient: ['CAP_KILL'] };
  const q = execPolicy(s, { overrides: { args: ['sh'], caps: ['CAP_NET_ADMIN'] } }).process.capabilities;
  assert.deepEqual(q.inheritable, ['CAP_KILL']);
  assert.deepEqual(q.ambient, ['CAP_KILL', 'CAP_NET_ADMIN']);
});

test('--apparmor and --process-label replace the labels, and errors name the flags', () => {
  const req = { args: ['sh'], apparmorProfile: 'other', selinuxLabel: 'other_t' };
  for (const r of [
    { overrides: req },
    { process: { args: ['id'], cwd: '/', user: { uid: 0, gid: 0 } }, overrides: req },
  ]) {
    const p = execPolicy(spec(), r);
    assert.equal(p.process.apparmorProfile, 'other');
    assert.equal(p.process.selinuxLabel, 'other_t');
    assert.deepEqual(p.lsmFrom, { apparmorProfile: '--apparmor', selinuxLabel: '--process-label' });
    assert.throws(
      () => planLsm(p.process, null, { apparmor: false, selinux: true }, p.lsmFrom),
      /^HuskError: --apparmor: "other" asked for, but AppArmor is not enabled on this host/,
    );
    assert.throws(
      () => planLsm(p.process, null, { apparmor: true, selinux: false }, p.lsmFrom),
      /^HuskError: --process-label: "other_t" asked for, but SELinux is not enabled on this host/,
    );
  }
});

test('a profile the kernel does not know is reported as not loaded, naming where it was asked for', () => {
  for (const from of [{}, { apparmorProfile: '--apparmor' }]) {
    const [o] = planLsm(
      { apparmorProfile: 'no-such-profile' },
      null,
      { apparmor: true, selinux: false },
      from,
    );
    const text = 'procfs: write exec no-such-profile to /proc/self/attr/apparmor/exec';
    assert.equal(
      lsmFailure(o, text, 2),
      `${from.apparmorProfile ?? '/process/apparmorProfile'}: AppArmor profile "no-such-profile" is not loaded (load it with apparmor_parser first): ${text}: No such file or directory`,
    );
    // Other failures keep the generic message.
    assert.equal(lsmFailure(o, text, 13), null);
    assert.equal(lsmFailure(o, 'procfs: open /proc/self/attr/apparmor/exec', 2), null);
  }
  const [s] = planLsm({ selinuxLabel: 'bad' }, null, { apparmor: false, selinux: true });
  assert.match(
    lsmFailure(s, 'procfs: write bad to /proc/self/attr/exec', 22),
    /SELinux label "bad" is not valid/,
  );
});
