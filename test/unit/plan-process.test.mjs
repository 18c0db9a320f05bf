// src/plan/process.ts and src/plan/caps.ts: rlimits, capability masks, identity and exec ops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, throwsHusk, names } from './helpers.mjs';

const { planRlimits, planIdentityAndExec, RLIMITS } = load('plan/process.js');
const { capMask, CAPABILITIES } = load('plan/caps.js');

// asm-generic/resource.h
const RES = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
};

const rl = (rlimits) => planRlimits({ rlimits });

test('every rlimit name maps to its resource number', () => {
  assert.deepEqual({ ...RLIMITS }, RES);
  const all = Object.keys(RES).map((type, i) => ({ type, soft: i, hard: i + 1 }));
  const ops = rl(all);
  assert.equal(ops.length, 16);
  ops.forEach((o, i) => {
    assert.equal(o.op, 'RLIMIT');
    assert.equal(o.from, `/process/rlimits/${i}`);
    assert.deepEqual(o.fields, [{ u32: RES[all[i].type] }, { u64: i }, { u64: i + 1 }]);
  });
});

test('rlimits: large values and soft == hard are fine; none is no op', () => {
  const [o] = rl([{ type: 'RLIMIT_NOFILE', soft: 1048576, hard: 1048576 }]);
  assert.deepEqual(o.fields, [{ u32: 7 }, { u64: 1048576 }, { u64: 1048576 }]);
  assert.deepEqual(o.show, { type: 'RLIMIT_NOFILE', soft: 1048576, hard: 1048576 });
  assert.deepEqual(planRlimits({}), []);
  assert.deepEqual(planRlimits(undefined), []);
});

test('rlimit errors name the entry', () => {
  throwsHusk(
    () =>
      rl([
        { type: 'RLIMIT_NOFILE', soft: 1, hard: 1 },
        { type: 'RLIMIT_BOGUS', soft: 1, hard: 1 },
      ]),
    /^\/process\/rlimits\/1\/type: unknown rlimit "RLIMIT_BOGUS"/,
  );
  throwsHusk(
    () =>
      rl([
        { type: 'RLIMIT_NOFILE', soft: 1, hard: 1 },
        { type: 'RLIMIT_CORE', soft: 1, hard: 1 },
        { type: 'RLIMIT_NOFILE', soft: 2, hard: 2 },
      ]),
    /^\/process\/rlimits\/2\/type: rlimit "RLIMIT_NOFILE" is given twice/,
  );
  throwsHusk(
    () => rl([{ type: 'RLIMIT_NPROC', soft: 10, hard: 5 }]),
    /^\/process\/rlimits\/0: soft limit 10 is above the hard limit 5/,
  );
});

test('rlimit types that are Object.prototype keys are unknown', () => {
  throwsHusk(
    () => rl([{ type: 'toString', soft: 1, hard: 1 }]),
    /^\/process\/rlimits\/0\/type: unknown rlimit/,
  );
});

// --- capabilities -----------------------------------------------------------------------------

test('capability bit numbers follow linux/capability.h', () => {
  const bits = {
    CAP_CHOWN: 0,
    CAP_KILL: 5,
    CAP_SETPCAP: 8,
    CAP_NET_BIND_SERVICE: 10,
    CAP_NET_RAW: 13,
    CAP_SYS_CHROOT: 18,
    CAP_SYS_ADMIN: 21,
    CAP_MKNOD: 27,
    CAP_AUDIT_WRITE: 29,
    CAP_SETFCAP: 31,
    CAP_AUDIT_READ: 37,
    CAP_PERFMON: 38,
    CAP_BPF: 39,
    CAP_CHECKPOINT_RESTORE: 40,
  };
  for (const [name, bit] of Object.entries(bits)) assert.equal(CAPABILITIES.indexOf(name), bit, name);
  assert.equal(CAPABILITIES.length, 41);
});

test('capMask: bits ORed, duplicates harmless, none is 0', () => {
  const dropped = [];
  assert.equal(
    capMask(['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'], '/x', 40, dropped),
    0x20000420n,
  );
  assert.equal(capMask(['CAP_CHOWN', 'CAP_CHOWN'], '/x', 40, dropped), 1n);
  assert.equal(capMask(['CAP_CHECKPOINT_RESTORE'], '/x', 40, dropped), 1n << 40n);
  assert.equal(capMask(undefined, '/x', 40, dropped), 0n);
  assert.equal(capMask([], '/x', 40, dropped), 0n);
  assert.deepEqual(dropped, []);
});

test('capMask: an unknown name is an error with its pointer', () => {
  throwsHusk(
    () => capMask(['CAP_KILL', 'CAP_BOGUS'], '/process/capabilities/effective', 40, []),
    /^\/process\/capabilities\/effective\/1: unknown capability "CAP_BOGUS"/,
  );
  throwsHusk(() => capMask(['cap_kill'], '/p', 40, []), /^\/p\/0: unknown capability "cap_kill"/);
});

test('capMask: names beyond lastCap are dropped and reported', () => {
  const dropped = [];
  assert.equal(
    capMask(['CAP_KILL', 'CAP_BPF', 'CAP_AUDIT_READ', 'CAP_PERFMON'], '/p', 37, dropped),
    (1n << 5n) | (1n << 37n),
  );
  assert.deepEqual(dropped, ['CAP_BPF', 'CAP_PERFMON']);
});

// --- identity and exec ------------------------------------------------------------------------

function proc(extra = {}) {
  return {
    process: {
      user: { uid: 1000, gid: 1001, additionalGids: [10, 20] },
      args: ['/bin/app', '--flag'],
      env: ['PATH=/opt/bin', 'HOME=/home/app'],
      cwd: '/work',
      capabilities: {
        bounding: ['CAP_KILL', 'CAP_CHOWN'],
        effective: ['CAP_KILL'],
        permitted: ['CAP_KILL', 'CAP_NET_RAW'],
        inheritable: ['CAP_SETUID'],
        ambient: ['CAP_KILL'],
      },
      ...extra,
    },
  };
}
const plan = (spec, lastCap = 40, warnings = []) =>
  planIdentityAndExec(spec.process, { lastCap, userNs: false, warnings });

test('op order: CHDIR, CAPS_BOUNDING, KEEP_CAPS, CREDS, CAPS_SET, UMASK, NO_NEW_PRIVS, LOOKUP_EXEC; EXEC after start', () => {
  const p = plan(proc({ noNewPrivileges: true }));
  assert.deepEqual(names(p.beforeStart), [
    'CHDIR',
    'CAPS_BOUNDING',
    'KEEP_CAPS',
    'CREDS',
    'CAPS_SET',
    'UMASK',
    'NO_NEW_PRIVS',
    'LOOKUP_EXEC',
  ]);
  assert.deepEqual(names(p.afterStart), ['EXEC']);
  const q = plan(proc());
  assert.deepEqual(names(q.beforeStart), [
    'CHDIR',
    'CAPS_BOUNDING',
    'KEEP_CAPS',
    'CREDS',
    'CAPS_SET',
    'UMASK',
    'LOOKUP_EXEC',
  ]);
  assert.deepEqual(names(plan(proc({ noNewPrivileges: false })).beforeStart), names(q.beforeStart));
});

test("HOME from the image's /etc/passwd, by uid, only when the environment's HOME is unset or empty (runc's rule)", () => {
  const home = (env, uid = 1000) =>
    plan(proc({ env, user: { uid, gid: 1 } })).beforeStart.filter((o) => o.op === 'HOME_FROM_PASSWD');
  assert.deepEqual(home(['HOME=/home/app']), []);
  assert.deepEqual(home(['HOME=', 'HOME=/later']), []);
  for (const env of [[], ['PATH=/bin'], ['HOME='], ['HOME=/x', 'HOME='], ['HOMEDIR=/x']]) {
    const ops = home(env, 1234);
    assert.equal(ops.length, 1, JSON.stringify(env));
    assert.deepEqual(ops[0].fields, [{ u32: 1234 }]);
  }
  // After CHDIR, which closes the host's procfs handle, and before the uid switch.
  const n = names(plan(proc({ env: [] })).beforeStart);
  assert.equal(n.indexOf('HOME_FROM_PASSWD'), n.indexOf('CHDIR') + 1, n.join(' '));
  assert.ok(n.indexOf('HOME_FROM_PASSWD') < n.indexOf('CREDS'));
});

test('the fields of each identity op', () => {
  const { beforeStart: b, afterStart: a } = plan(
    proc({ user: { uid: 1000, gid: 1001, additionalGids: [10, 20], umask: 0o077 } }),
  );
  const by = Object.fromEntries(b.map((o) => [o.op, o]));
  assert.deepEqual(by.CHDIR.fields, [{ str: '/work' }]);
  assert.deepEqual(by.CAPS_BOUNDING.fields, [{ u64: (1n << 5n) | 1n }]);
  assert.equal(by.CAPS_BOUNDING.show.keep, '21');
  assert.deepEqual(by.KEEP_CAPS.fields, []);
  assert.deepEqual(by.CREDS.fields, [{ u32: 1000 }, { u32: 1001 }, { u32v: [10, 20] }, { u32: 1 }]);
  assert.deepEqual(by.CAPS_SET.fields, [
    { u64: 1n << 5n }, // effective
    { u64: (1n << 5n) | (1n << 13n) }, // permitted
    { u64: 1n << 7n }, // inheritable
    { u64: 1n << 5n }, // ambient
  ]);
  assert.deepEqual(by.UMASK.fields, [{ u32: 0o077 }]);
  assert.deepEqual(by.LOOKUP_EXEC.fields, [{ str: '/bin/app' }, { str: '/opt/bin' }]);
  assert.deepEqual(a[0].fields, [
    { strv: ['/bin/app', '--flag'] },
    { strv: ['PATH=/opt/bin', 'HOME=/home/app'] },
  ]);
});

test('umask defaults to 022; additionalGids default to none', () => {
  const by = Object.fromEntries(plan(proc({ user: { uid: 0, gid: 0 } })).beforeStart.map((o) => [o.op, o]));
  assert.deepEqual(by.UMASK.fields, [{ u32: 0o022 }]);
  assert.deepEqual(by.CREDS.fields[2], { u32v: [] });
  const zero = Object.fromEntries(
    plan(proc({ user: { uid: 0, gid: 0, umask: 0 } })).beforeStart.map((o) => [o.op, o]),
  );
  assert.deepEqual(zero.UMASK.fields, [{ u32: 0 }], 'umask 0 is kept');
});

const lookupPath = (env) => plan(proc({ env })).beforeStart.find((o) => o.op === 'LOOKUP_EXEC').fields[1].str;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

test('LOOKUP_EXEC searches the PATH from env: the last PATH= wins', () => {
  assert.equal(lookupPath(['PATH=/first', 'X=1', 'PATH=/second:/third']), '/second:/third');
  assert.equal(lookupPath(['PATH=']), '', 'an empty PATH is still the PATH given');
});

test('LOOKUP_EXEC falls back to the default PATH without one', () => {
  assert.equal(lookupPath(undefined), DEFAULT_PATH);
  assert.equal(lookupPath([]), DEFAULT_PATH);
  assert.equal(lookupPath(['MYPATH=/nope', 'path=/lower', ' PATH=/space']), DEFAULT_PATH);
});

test('capabilities beyond lastCap are dropped with one warning naming each once', () => {
  const warnings = [];
  const spec = proc({
    capabilities: {
      bounding: ['CAP_KILL', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE'],
      effective: ['CAP_BPF'],
      permitted: ['CAP_BPF'],
    },
  });
  const { beforeStart } = plan(spec, 38, warnings);
  assert.deepEqual(beforeStart.find((o) => o.op === 'CAPS_BOUNDING').fields, [{ u64: 1n << 5n }]);
  assert.deepEqual(beforeStart.find((o) => o.op === 'CAPS_SET').fields[0], { u64: 0n });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /not known to this kernel/);
  assert.match(warnings[0], /CAP_BPF, CAP_CHECKPOINT_RESTORE$/);
  const none = [];
  plan(spec, 40, none);
  assert.deepEqual(none, []);
});

test('an unknown capability names its set and index', () => {
  const spec = proc({
    capabilities: { bounding: ['CAP_KILL'], permitted: ['CAP_KILL', 'CAP_KILL', 'CAP_NOPE'] },
  });
  throwsHusk(() => plan(spec), /^\/process\/capabilities\/permitted\/2: unknown capability "CAP_NOPE"/);
});

test('no capabilities object: every mask is empty', () => {
  const spec = proc();
  delete spec.process.capabilities;
  const b = plan(spec).beforeStart;
  assert.deepEqual(b.find((o) => o.op === 'CAPS_BOUNDING').fields, [{ u64: 0n }]);
  assert.deepEqual(b.find((o) => o.op === 'CAPS_SET').fields, [
    { u64: 0n },
    { u64: 0n },
    { u64: 0n },
    { u64: 0n },
  ]);
});

test('process errors', () => {
  throwsHusk(() => plan({}), /^\/process: is required/);
  throwsHusk(() => plan(proc({ args: [] })), /^\/process\/args: must be a non-empty array/);
  throwsHusk(() => plan(proc({ args: undefined })), /^\/process\/args: /);
  throwsHusk(() => plan(proc({ cwd: 'tmp' })), /^\/process\/cwd: "tmp" must be an absolute path/);
});
