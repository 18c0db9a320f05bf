// Rootless cgroups: --rootless parsing and resolution (runc's rules), and which cgroups a
// rootless container gets on a fake pure cgroup v2 tree where one directory is delegated
// (writable by a made-up caller uid, through its mode bits).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { load, hostV2, hostHybrid, throwsHusk } from './helpers.mjs';

const { parseRootlessFlag, resolveRootless } = load('runtime/rootless.js');
const { hostUid, runningInUserNs } = load('host/userns.js');
const { fitCgroupsToCaller } = load('plan/cgroup-delegation.js');
const { planCgroups } = load('plan/cgroups.js');
const { buildPlan } = load('plan/index.js');
const { applyWrites, createCgroups } = load('runtime/cgroups/cgroupfs.js');

test('--rootless: the spellings runc accepts, and a clear error for others', () => {
  for (const v of ['true', '1', 't', 'T', 'TRUE', 'True', true]) assert.equal(parseRootlessFlag(v), true, v);
  for (const v of ['false', '0', 'f', 'F', 'FALSE', 'False', false])
    assert.equal(parseRootlessFlag(v), false, v);
  for (const v of ['auto', '', undefined]) assert.equal(parseRootlessFlag(v), 'auto');
  throwsHusk(() => parseRootlessFlag('yes'), /^--rootless: "yes" is not true, false or auto$/);
});

test("default --root: runc's rule, which looks at the user namespace and not only the euid", () => {
  const { honorsXdgRuntimeDir } = load('runtime/context.js');
  const never = () => assert.fail('the user namespace is not looked at for a non-root caller');
  assert.equal(honorsXdgRuntimeDir(1000, 'alice', never), true);
  // The real root keeps /run/husk even with XDG_RUNTIME_DIR set (/run/user/0).
  assert.equal(
    honorsXdgRuntimeDir(0, 'root', () => false),
    false,
  );
  assert.equal(
    honorsXdgRuntimeDir(0, 'alice', () => false),
    false,
  );
  // Root inside a user namespace (rootless podman's runtime): the user's XDG_RUNTIME_DIR.
  assert.equal(
    honorsXdgRuntimeDir(0, 'alice', () => true),
    true,
  );
  assert.equal(
    honorsXdgRuntimeDir(0, undefined, () => true),
    true,
  );
  assert.equal(
    honorsXdgRuntimeDir(0, 'root', () => true),
    false,
  );
});

test('--rootless auto: non-root is rootless; root only inside a user namespace', () => {
  const never = () => assert.fail('the user namespace is not looked at for a non-root caller');
  assert.equal(resolveRootless('auto', 1000, never), true);
  assert.equal(
    resolveRootless('auto', 0, () => false),
    false,
  );
  assert.equal(
    resolveRootless('auto', 0, () => true),
    true,
  );
  assert.equal(resolveRootless(false, 1000, never), false);
  assert.equal(resolveRootless(true, 0, never), true);
  assert.equal(runningInUserNs('         0          0 4294967295\n'), false);
  assert.equal(runningInUserNs('         0       1000          1\n'), true);
  assert.equal(runningInUserNs('0 100000 65536\n'), true);
});

// A pure v2 cgroupfs in a temp dir: the root and /other are the host's (0755), /deleg is
// delegated to uid 4242 (here: world-writable, since the test may not run as root to chown).
function fakeV2(t) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-fake-cg2-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.chmodSync(root, 0o755);
  fs.mkdirSync(path.join(root, 'other'), { mode: 0o755 });
  fs.mkdirSync(path.join(root, 'deleg'));
  fs.chmodSync(path.join(root, 'deleg'), 0o777);
  const caller = {
    uid: 4242,
    canUse(dir) {
      let p = dir;
      while (!fs.existsSync(p)) p = path.dirname(p);
      return (fs.statSync(p).mode & 0o002) !== 0;
    },
  };
  return { root, caller, host: hostV2({ unified: root, euid: 4242, egid: 4242 }) };
}

const memLimit = (cgroupsPath) => ({
  linux: { cgroupsPath, resources: { memory: { limit: 1 << 26 }, pids: { limit: 50 } } },
});

test("the bus knows a uid of a user namespace by the host's uid (rootless podman's uid 0 is the user's)", () => {
  const podman = '         0       1000          1\n         1     100000      65536\n';
  assert.equal(hostUid(0, podman), 1000);
  assert.equal(hostUid(1, podman), 100000);
  assert.equal(hostUid(1000, podman), 100999);
  assert.equal(hostUid(0, '         0          0 4294967295\n'), 0);
  assert.equal(hostUid(1000, '         0          0 4294967295\n'), 1000);
  // Not mapped at all: the kernel would show it as the overflow uid; the caller's own is kept.
  assert.equal(hostUid(70000, podman), 70000);
});

test('pure v2, delegated cgroupsPath: the container gets it, with its limits', (t) => {
  const { root, caller, host } = fakeV2(t);
  const plan = planCgroups(memLimit('/deleg/c1'), host, 'c1');
  const fit = fitCgroupsToCaller(plan, caller, '/deleg/c1');
  assert.deepEqual(fit.warnings, []);
  assert.deepEqual(fit.plan.dirs, [path.join(root, 'deleg/c1')]);
  assert.deepEqual(
    fit.plan.writes.map((w) => [w.file, w.value]),
    [
      ['memory.max', String(1 << 26)],
      ['pids.max', '50'],
    ],
  );
  // Applying them: made below the delegated dir; a file the (fake) kernel lacks is an error that
  // names the resource, as a controller not passed down to the delegated cgroup would be.
  createCgroups(fit.plan);
  assert.ok(fs.statSync(path.join(root, 'deleg/c1')).isDirectory());
  throwsHusk(
    () => applyWrites(fit.plan.writes),
    /^\/linux\/resources\/memory\/limit: this host has no memory\.max in /,
  );
  fs.writeFileSync(path.join(root, 'deleg/c1/memory.max'), '');
  fs.writeFileSync(path.join(root, 'deleg/c1/pids.max'), '');
  applyWrites(fit.plan.writes);
  assert.equal(fs.readFileSync(path.join(root, 'deleg/c1/memory.max'), 'utf8'), String(1 << 26));
});

test('pure v2, cgroupsPath not delegated: an error naming the path', (t) => {
  const { caller, host } = fakeV2(t);
  const plan = planCgroups({ linux: { cgroupsPath: '/other/c1' } }, host, 'c1');
  throwsHusk(
    () => fitCgroupsToCaller(plan, caller, '/other/c1'),
    /^\/linux\/cgroupsPath: uid 4242 cannot create or join .*\/other\/c1 \(not delegated to this user\)/,
  );
});

test('pure v2, no cgroupsPath and no limits: no cgroup, with a warning; limits: an error', (t) => {
  const { caller, host } = fakeV2(t);
  const fit = fitCgroupsToCaller(planCgroups({}, host, 'c1'), caller, undefined);
  assert.equal(fit.plan, null);
  assert.match(fit.warnings[0], /^rootless: no delegated cgroup at .*\/husk\/c1/);
  throwsHusk(
    () => fitCgroupsToCaller(planCgroups(memLimit(''), host, 'c1'), caller, undefined),
    /^\/linux\/resources\/memory\/limit: memory\.max needs the cgroup .*husk\/c1, which uid 4242 cannot create or join/,
  );
});

test('device rules are left to the user namespace', (t) => {
  const { caller, host } = fakeV2(t);
  const spec = {
    linux: { cgroupsPath: '/deleg/c1', resources: { devices: [{ allow: false, access: 'rwm' }] } },
  };
  const plan = planCgroups(spec, host, 'c1');
  assert.ok(plan.devicesProgram, 'root gets a device program');
  assert.equal(fitCgroupsToCaller(plan, caller, '/deleg/c1').plan.devicesProgram, null);
  // --rootless true given to root outside a user namespace: the device rules stay.
  const kept = fitCgroupsToCaller(plan, { ...caller, keepDeviceRules: true }, '/deleg/c1').plan;
  assert.equal(kept.devicesProgram, plan.devicesProgram);
});

test('hybrid: only the delegated cgroup2 directory is joined; the plan says so', () => {
  const host = hostHybrid({ euid: 4242, egid: 4242, unifiedControllers: ['hugetlb'] });
  const caller = { uid: 4242, canUse: (d) => d.startsWith('/sys/fs/cgroup/unified/deleg') };
  const spec = {
    root: { path: '/r' },
    process: { args: ['true'], cwd: '/', user: { uid: 0, gid: 0 } },
    linux: {
      cgroupsPath: '/deleg/c1',
      namespaces: [{ type: 'mount' }, { type: 'user' }, { type: 'pid' }],
      uidMappings: [{ containerID: 0, hostID: 4242, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: 4242, size: 1 }],
      resources: { hugepageLimits: [{ pageSize: '2MB', limit: 1 << 21 }] },
    },
  };
  const plan = buildPlan(spec, host, { id: 'c1', bundle: '/b', cgroupAccess: caller });
  assert.deepEqual(plan.cgroups.dirs, ['/sys/fs/cgroup/unified/deleg/c1']);
  assert.deepEqual(plan.cgroups.v1, []);
  assert.deepEqual(
    plan.cgroups.writes.map((w) => `${w.dir}/${w.file}`),
    ['/sys/fs/cgroup/unified/deleg/c1/hugetlb.2MB.max'],
  );
  assert.match(plan.notes[0], /not delegated to uid 4242, left out: .*\/sys\/fs\/cgroup\/memory\/deleg\/c1/);
  // A v1 limit cannot be had there.
  spec.linux.resources = { memory: { limit: 1 << 26 } };
  throwsHusk(
    () => buildPlan(spec, host, { id: 'c1', bundle: '/b', cgroupAccess: caller }),
    /^\/linux\/resources\/memory\/limit: memory\.limit_in_bytes needs the cgroup \/sys\/fs\/cgroup\/memory\/deleg\/c1/,
  );
});

test('without root, a config with no user namespace is refused in planning', () => {
  const spec = {
    root: { path: '/r' },
    process: { args: ['true'], cwd: '/', user: { uid: 0, gid: 0 } },
    linux: { namespaces: [{ type: 'mount' }] },
  };
  throwsHusk(
    () => buildPlan(spec, hostV2({ euid: 1000, egid: 1000 }), { id: 'c1', bundle: '/b' }),
    /^\/linux\/namespaces: running as uid 1000 \(not root\) needs a user namespace/,
  );
});

test('cgroup v2: a new directory gets every controller of its parent passed down, and only missing ones are written', (t) => {
  const { root, host } = fakeV2(t);
  const parent = path.join(root, 'deleg');
  fs.writeFileSync(path.join(parent, 'cgroup.controllers'), 'cpu io memory pids\n');
  fs.writeFileSync(path.join(parent, 'cgroup.subtree_control'), 'cpu memory\n');
  const plan = planCgroups({ linux: { cgroupsPath: '/deleg/c1' } }, host, 'c1');
  createCgroups(plan);
  assert.ok(fs.statSync(path.join(parent, 'c1')).isDirectory());
  // A plain file keeps only the last write: one of the two missing controllers, never one the
  // parent passes down already.
  assert.match(fs.readFileSync(path.join(parent, 'cgroup.subtree_control'), 'utf8'), /^\+(io|pids)$/);
  // All passed down already: nothing is written.
  fs.writeFileSync(path.join(parent, 'cgroup.subtree_control'), 'cpu io memory pids\n');
  createCgroups(planCgroups({ linux: { cgroupsPath: '/deleg/c2' } }, host, 'c2'));
  assert.equal(fs.readFileSync(path.join(parent, 'cgroup.subtree_control'), 'utf8'), 'cpu io memory pids\n');
});
