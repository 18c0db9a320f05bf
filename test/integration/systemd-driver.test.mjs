// --systemd-cgroup end to end on this host's real cgroups, with a fake systemd (this machine is
// not booted with systemd). The fake plays systemd's part on a hybrid host: it makes the unit's
// directory in the name=systemd and cgroup2 hierarchies and moves the init there; husk makes
// the rest, writes the limits, and on delete asks systemd to stop the unit.
//
// HUSK_INTERNAL_ASSUME_SYSTEMD=1 is husk's test-only override of the "is systemd running" check
// (src/runtime/cgroups/systemd-driver.ts); DBUS_SYSTEM_BUS_ADDRESS is the variable sd-bus and runc honour.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CGROUP_ROOT, SKIP, env, makeBundle, show } from '../lib/harness.mjs';
import { propertiesOf, startFakeSystemd } from '../lib/systemd-fake.mjs';

const HIERARCHIES = SKIP ? [] : fs.readdirSync(CGROUP_ROOT);

function procCgroups(pid) {
  return fs
    .readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(':'));
}

// The fake, pointed at by the environment of every husk call; stopped (and its units with it)
// after the test, and every directory of the unit's slice checked gone.
async function withFake(t, slice) {
  const e = env(t);
  const f = await startFakeSystemd({
    roots: [path.join(CGROUP_ROOT, 'systemd'), path.join(CGROUP_ROOT, 'unified')],
    base: '/',
    joinPids: true,
  });
  const top = slice.split('-')[0] + '.slice';
  const sliceDirs = () =>
    HIERARCHIES.map((h) => path.join(CGROUP_ROOT, h, top)).filter((d) => fs.existsSync(d));
  e.defer(async () => {
    await f.stop();
    for (const d of sliceDirs().sort((a, b) => b.length - a.length)) {
      // Only if the test failed before delete: remove what is left of ours.
      for (const sub of fs
        .readdirSync(d, { recursive: true })
        .filter((n) => n.includes(e.marker))
        .reverse())
        try {
          fs.rmdirSync(path.join(d, sub));
        } catch {
          /* not a directory, or busy */
        }
    }
  });
  const sdEnv = { DBUS_SYSTEM_BUS_ADDRESS: f.address, HUSK_INTERNAL_ASSUME_SYSTEMD: '1' };
  return { e, f, sdEnv, sliceDirs };
}

describe('--systemd-cgroup with a fake systemd', { skip: SKIP }, () => {
  test('run: the unit holds the init in every hierarchy, limits are written; update and delete go through systemd', async (t) => {
    const slice = `husktest-${env(t).marker}.slice`;
    const { e, f, sdEnv, sliceDirs } = await withFake(t, slice);
    const id = e.id('sd');
    const b = makeBundle(
      t,
      (c) => {
        c.linux.cgroupsPath = `${slice}:husk:${id}`;
        c.linux.resources = { memory: { limit: 64 << 20 }, pids: { limit: 50 }, cpu: { shares: 512 } };
      },
      { args: ['sleep', '1000'] },
    );
    let r = e.husk(['--systemd-cgroup', 'run', '--detach', '-b', b.dir, id], { env: sdEnv });
    assert.equal(r.code, 0, show(r));
    const rel = `/husktest.slice/${slice}/husk-${id}.scope`;
    const pid = e.state(id).pid;

    // Where the init is: the unit's directory in every hierarchy, systemd's and husk's.
    for (const [, ctrl, p] of procCgroups(pid)) assert.equal(p, rel, `hierarchy "${ctrl}"`);
    assert.equal(
      fs.readFileSync(path.join(CGROUP_ROOT, 'memory', rel, 'memory.limit_in_bytes'), 'utf8').trim(),
      String(64 << 20),
    );
    assert.equal(fs.readFileSync(path.join(CGROUP_ROOT, 'pids', rel, 'pids.max'), 'utf8').trim(), '50');
    // ... and as the container sees it through its own cgroup namespace.
    r = e.husk(['exec', id, 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/proc/self/cgroup']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout.split('\n')[0], String(64 << 20), show(r));

    // What systemd was asked.
    const [start] = f.calls('StartTransientUnit');
    assert.equal(start.body[0], `husk-${id}.scope`);
    const p = propertiesOf(start);
    assert.equal(p.Slice, slice);
    assert.equal(p.Delegate, true);
    assert.equal(p.MemoryLimit, `${64 << 20}n`);
    assert.equal(p.TasksMax, '50n');
    assert.equal(p.CPUShares, '512n');
    assert.equal(p.PIDs.length, 1);
    assert.equal(p.Description, `husk container ${id}`);

    // update: systemd's properties, then the files.
    r = e.husk(['--systemd-cgroup', 'update', '--memory', '32m', id], { env: sdEnv });
    assert.equal(r.code, 0, show(r));
    const [set] = f.calls('SetUnitProperties');
    assert.equal(set.body[0], `husk-${id}.scope`);
    assert.deepEqual(set.body[2], [['MemoryLimit', { type: 't', value: `${32 << 20}n` }]]);
    assert.equal(
      fs.readFileSync(path.join(CGROUP_ROOT, 'memory', rel, 'memory.limit_in_bytes'), 'utf8').trim(),
      String(32 << 20),
    );

    // delete: the record knows the unit; systemd stops it, husk removes the rest.
    r = e.husk(['delete', '--force', id], { env: sdEnv });
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(f.calls('StopUnit')[0].body, [`husk-${id}.scope`, 'replace']);
    assert.deepEqual(sliceDirs(), [], 'no directory of the slice is left in any hierarchy');
    await e.assertClean();
  });

  test('default path: system.slice/husk-<id>.scope; a failed create stops the unit and leaves nothing', async (t) => {
    const { e, f, sdEnv } = await withFake(t, 'system.slice');
    const id = e.id('sdfail');
    // A limit the kernel refuses fails create after systemd made the unit.
    const b = makeBundle(t, (c) => {
      c.linux.resources = { cpu: { cpus: '999' } };
    });
    const r = e.husk(['--systemd-cgroup', 'run', '-b', b.dir, id], { env: sdEnv });
    assert.notEqual(r.code, 0, show(r));
    assert.match(
      r.stderr,
      /\/linux\/resources\/cpu\/cpus: write "999" to .*\/system.slice\/husk-.*\.scope\/cpuset.cpus/,
    );
    assert.equal(f.calls('StartTransientUnit')[0].body[0], `husk-${id}.scope`);
    assert.equal(f.calls('StopUnit').length, 1, 'the failed create stopped the unit');
    for (const h of HIERARCHIES)
      assert.ok(!fs.existsSync(path.join(CGROUP_ROOT, h, 'system.slice', `husk-${id}.scope`)), h);
    assert.ok(!fs.existsSync(path.join(e.root, id)), 'no state left');
  });

  test('features says systemd: true only when systemd answers', async (t) => {
    const { e, sdEnv } = await withFake(t, 'system.slice');
    let r = e.husk(['features'], { env: sdEnv });
    assert.equal(JSON.parse(r.stdout).linux.cgroup.systemd, true, show(r));
    r = e.husk(['features'], { env: { ...sdEnv, DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/nonexistent' } });
    assert.equal(JSON.parse(r.stdout).linux.cgroup.systemd, false, show(r));
  });
});

describe('--systemd-cgroup without systemd', { skip: SKIP }, () => {
  test('fails naming the flag, as runc does, and leaves nothing behind', async (t) => {
    const e = env(t);
    if (fs.existsSync('/run/systemd/system')) return t.skip('this host runs systemd');
    const id = e.id('nosd');
    const b = makeBundle(t);
    const r = e.husk(['--systemd-cgroup', 'run', '-b', b.dir, id]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /^husk: --systemd-cgroup: systemd is not running on this host \(no \/run\/systemd\/system\)/,
    );
    assert.ok(!fs.existsSync(path.join(e.root, id)));
    assert.equal(JSON.parse(e.husk(['features']).stdout).linux.cgroup.systemd, false);
    await e.assertClean();
  });
});
