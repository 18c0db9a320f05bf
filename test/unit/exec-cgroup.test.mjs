// src/plan/cgroup-join.ts execCgroupDirs: exec --cgroup [ctrl[,ctrl]:]path on v1, hybrid and v2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, hostV1, hostV2, hostHybrid, throwsHusk } from './helpers.mjs';

const { planCgroups } = load('plan/cgroups.js');
const { execCgroupDirs } = load('plan/cgroup-join.js');

const dirsOf = (host) => planCgroups({}, host, 'c1').dirs;

test('no --cgroup: the container own directories', () => {
  assert.deepEqual(execCgroupDirs(dirsOf(hostV1()), [], hostV1()), dirsOf(hostV1()));
});

test('v2: the plain form changes the one directory; controller names are unknown there', () => {
  assert.deepEqual(execCgroupDirs(dirsOf(hostV2()), ['a/b'], hostV2()), ['/sys/fs/cgroup/husk/c1/a/b']);
  assert.deepEqual(execCgroupDirs(dirsOf(hostV2()), ['/'], hostV2()), ['/sys/fs/cgroup/husk/c1']);
  throwsHusk(() => execCgroupDirs(dirsOf(hostV2()), ['memory:a'], hostV2()), /unknown controller memory/);
});

test('v1 and hybrid: per controller, several at once, the rest unchanged', () => {
  const host = hostHybrid();
  const dirs = dirsOf(host);
  const out = execCgroupDirs(dirs, ['pids,memory:x', 'cpu:/'], host);
  assert.ok(out.includes('/sys/fs/cgroup/pids/husk/c1/x'));
  assert.ok(out.includes('/sys/fs/cgroup/memory/husk/c1/x'));
  assert.ok(out.includes('/sys/fs/cgroup/cpu,cpuacct/husk/c1'));
  assert.ok(out.includes('/sys/fs/cgroup/unified/husk/c1'));
  assert.equal(out.length, dirs.length);
  // The plain form goes below every hierarchy, cgroup2 included.
  assert.ok(execCgroupDirs(dirs, ['x'], host).every((d) => d.endsWith('/husk/c1/x')));
});

test('refused: outside the container, unknown controllers, bad forms', () => {
  const host = hostV1();
  const dirs = dirsOf(host);
  for (const a of ['..', '../c2', '/../..'])
    throwsHusk(() => execCgroupDirs(dirs, [a], host), /is not a sub cgroup path/);
  throwsHusk(() => execCgroupDirs(dirs, ['pids:../x'], host), /is not a sub cgroup path/);
  throwsHusk(() => execCgroupDirs(dirs, ['whaaat:/'], host), /unknown controller whaaat/);
  throwsHusk(() => execCgroupDirs(dirs, ['a:b:c'], host), /invalid --cgroup argument/);
  throwsHusk(() => execCgroupDirs(dirs, ['x', 'y'], host), /missing <controller>: prefix/);
});
