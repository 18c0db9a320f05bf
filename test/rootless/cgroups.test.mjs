// Rootless cgroups: --rootless, and a cgroup v2 directory delegated to the user (made by the
// test below the host's cgroup2 mount and chowned to the user, as systemd delegates one).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  IS_HUSK,
  SKIP,
  cgroup2Mount,
  defaultRoot,
  makeUser,
  removeCgroupTree,
  rlEnv,
  show,
  sleep,
} from './lib.mjs';

// The host's cgroup2 mount: /sys/fs/cgroup on a pure v2 host, /sys/fs/cgroup/unified on a hybrid.
const CG2 = cgroup2Mount();

// What systemd chowns when it delegates a cgroup: the directory and the files to make children,
// move processes and pass controllers down.
function delegate(dir, user) {
  for (const f of ['', 'cgroup.procs', 'cgroup.threads', 'cgroup.subtree_control'])
    fs.chownSync(path.join(dir, f), user.uid, user.gid);
}

describe('rootless cgroups', { skip: SKIP }, () => {
  let user;
  before(() => {
    user = makeUser();
  });
  after(() => user?.remove());

  test('--rootless false: the cgroups are not delegated, so run fails', (t) => {
    const e = rlEnv(t, user);
    const id = e.id();
    const r = e.run(['run', '--bundle', e.bundle(['true']), id], { global: ['--rootless', 'false'] });
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stderr, /cgroup/, show(r));
    if (IS_HUSK) assert.match(r.stderr, /^husk: create cgroup .*: EACCES/m, show(r));
    assert.ok(!fs.existsSync(path.join(defaultRoot(user), id)), 'state dir left');
  });

  test('--rootless with a value that is not true, false or auto is refused', (t) => {
    const e = rlEnv(t, user);
    const r = e.run(['run', '--bundle', e.bundle(['true']), e.id()], { global: ['--rootless', 'maybe'] });
    assert.notEqual(r.code, 0, show(r));
    if (IS_HUSK) assert.match(r.stderr, /^husk: --rootless: "maybe" is not true, false or auto$/m, show(r));
  });

  describe('a delegated cgroup v2', { skip: CG2 ? false : 'this host has no cgroup2 mount' }, () => {
    // dir: the delegated cgroup; launch: where the runtime is started from, inside it (moving a
    // process needs write access to the common ancestor's cgroup.procs, so husk must start there).
    function delegated(t, e) {
      const dir = path.join(CG2, `husk-test-${e.marker}`);
      fs.mkdirSync(dir);
      t.after(() => removeCgroupTree(dir));
      delegate(dir, user);
      const launch = path.join(dir, 'launch');
      fs.mkdirSync(launch);
      delegate(launch, user);
      return { dir, name: path.basename(dir), procs: path.join(launch, 'cgroup.procs') };
    }

    test('the init joins a cgroup made below the delegated one; delete removes it', async (t) => {
      const e = rlEnv(t, user);
      const d = delegated(t, e);
      const id = e.id();
      const b = e.bundle(['sleep', '1000'], (c) => {
        c.linux.cgroupsPath = `/${d.name}/${id}`;
      });
      const r = e.run(['create', '--bundle', b, id], { cgroupProcs: d.procs });
      assert.equal(r.code, 0, show(r));
      const pid = e.state(id).pid;
      const line = fs
        .readFileSync(`/proc/${pid}/cgroup`, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('0::'));
      assert.equal(line, `0::/${d.name}/${id}`);
      assert.equal(fs.statSync(path.join(d.dir, id)).uid, user.uid, 'made by the user');
      const del = e.run(['delete', '--force', id]);
      assert.equal(del.code, 0, show(del));
      await sleep(20);
      assert.ok(!fs.existsSync(path.join(d.dir, id)), 'the container cgroup is removed');
    });

    test('a limit the delegated cgroup cannot take fails, naming the resource and file', (t) => {
      const e = rlEnv(t, user);
      const d = delegated(t, e);
      const id = e.id();
      const has = fs.readFileSync(path.join(d.dir, 'cgroup.controllers'), 'utf8').split(/\s+/);
      // A controller the delegated cgroup has not been given (or that this host lacks).
      const res = has.includes('pids')
        ? { hugepageLimits: [{ pageSize: '1KB', limit: 1 }] }
        : { pids: { limit: 10 } };
      const b = e.bundle(['true'], (c) => {
        c.linux.cgroupsPath = `/${d.name}/${id}`;
        c.linux.resources = res;
      });
      const r = e.run(['run', '--bundle', b, id], { cgroupProcs: d.procs });
      assert.notEqual(r.code, 0, show(r));
      if (IS_HUSK) {
        const what = res.pids ? 'pids/limit: .*pids\\.max' : 'hugepageLimits/0: .*hugetlb\\.1KB';
        assert.match(r.stderr, new RegExp(`^husk: /linux/resources/${what}`, 'm'), show(r));
      }
      assert.ok(!fs.existsSync(path.join(d.dir, id)), 'no cgroup left after the failure');
      assert.ok(!fs.existsSync(path.join(defaultRoot(user), id)), 'no state dir left');
    });

    test('a cgroupsPath outside the delegated cgroup is refused', (t) => {
      const e = rlEnv(t, user);
      const d = delegated(t, e);
      const id = e.id();
      const b = e.bundle(['true'], (c) => {
        c.linux.cgroupsPath = `/husk-not-delegated-${e.marker}/${id}`;
      });
      const r = e.run(['run', '--bundle', b, id], { cgroupProcs: d.procs });
      assert.notEqual(r.code, 0, show(r));
      if (IS_HUSK)
        assert.match(r.stderr, /^husk: \/linux\/cgroupsPath: uid \d+ cannot create or join /m, show(r));
      assert.ok(!fs.existsSync(path.join(CG2, `husk-not-delegated-${e.marker}`)));
    });
  });
});
