// The same focused check on every cgroup layout systemd can boot with (scripts/guest/run.mjs
// --cgroup v2|hybrid|v1): for the cgroupfs driver and --systemd-cgroup, a container is created
// with memory and pids limits, started, updated live and deleted; the limits are read from the
// container's own cgroup files (v1 memory/pids hierarchies or the v2 one), and delete leaves no
// cgroup and no systemd unit. RUNTIME=/usr/sbin/runc runs it against runc.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HUSK, SKIP as NOT_ROOT, env, makeBundle, show } from '../lib/harness.mjs';

const RUNTIME = process.env.RUNTIME ? path.resolve(process.env.RUNTIME) : HUSK;
const NAME = path.basename(RUNTIME);
const MiB = 1024 * 1024;

const LAYOUT = fs.existsSync('/sys/fs/cgroup/cgroup.controllers')
  ? 'v2'
  : fs.existsSync('/sys/fs/cgroup/unified')
    ? 'hybrid'
    : 'v1';
function whyNot() {
  if (NOT_ROOT) return NOT_ROOT;
  if (!process.env.HUSK_GUEST) return 'makes systemd units and cgroups: only in the guest (HUSK_GUEST=1)';
  if (!fs.existsSync(RUNTIME)) return `runtime ${RUNTIME} not found`;
  if (fs.readFileSync('/proc/1/comm', 'utf8').trim() !== 'systemd') return 'PID 1 is not systemd';
  return false;
}
const SKIP = whyNot();

// The container's directory for `controller`: its v1 hierarchy, else the v2 one.
function cgroupDir(pid, controller) {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const v1 = lines.find((l) => l.split(':')[1].split(',').includes(controller));
  if (v1) return path.join('/sys/fs/cgroup', controller, v1.split(':')[2]);
  const v2 = lines.find((l) => l.startsWith('0::'));
  return path.join('/sys/fs/cgroup', v2.slice(3));
}
const read = (f) => fs.readFileSync(f, 'utf8').trim();
function limits(pid) {
  const mem = cgroupDir(pid, 'memory');
  const pids = cgroupDir(pid, 'pids');
  const memFile = fs.existsSync(path.join(mem, 'memory.max')) ? 'memory.max' : 'memory.limit_in_bytes';
  return {
    dirs: [mem, pids],
    memory: read(path.join(mem, memFile)),
    pids: read(path.join(pids, 'pids.max')),
  };
}

const DRIVERS = [
  { name: 'cgroupfs', flags: [], cgroupsPath: (m) => `/husk-modes-${m}` },
  { name: 'systemd', flags: ['--systemd-cgroup'], cgroupsPath: (m) => `system.slice:huskmodes:${m}` },
];

describe(`${NAME}, cgroup ${LAYOUT} under systemd`, { skip: SKIP }, () => {
  for (const driver of DRIVERS)
    test(`${driver.name} driver: create, start, update, delete`, (t) => {
      const e = env(t, { runtime: RUNTIME });
      const call = (args, opts) => e.husk([...driver.flags, ...args], { timeout: 120_000, ...opts });
      const b = makeBundle(t, (c) => {
        c.process.args = ['sleep', '600'];
        if (NAME === 'crun') c.ociVersion = '1.0.2';
        c.linux.cgroupsPath = driver.cgroupsPath(e.marker);
        c.linux.resources = { ...c.linux.resources, memory: { limit: 64 * MiB }, pids: { limit: 32 } };
      });
      const id = e.id('m');
      e.defer(() => call(['delete', '--force', id]));
      const cr = call(['create', '--bundle', b.dir, id]);
      assert.equal(cr.code, 0, `create: ${show(cr)}`);
      const pid = JSON.parse(call(['state', id]).stdout).pid;
      const got = limits(pid);
      assert.deepEqual([got.memory, got.pids], [String(64 * MiB), '32'], `in ${got.dirs.join(', ')}`);
      assert.equal(call(['start', id]).code, 0);
      const u = call(['update', '--memory', String(80 * MiB), '--pids-limit', '40', id]);
      assert.equal(u.code, 0, `update: ${show(u)}`);
      const now = limits(pid);
      assert.deepEqual([now.memory, now.pids], [String(80 * MiB), '40']);
      const unit = `huskmodes-${e.marker}.scope`;
      if (driver.name === 'systemd') {
        const st = spawnSync('systemctl', ['is-active', unit], { encoding: 'utf8' }).stdout.trim();
        assert.equal(st, 'active', `${unit}`);
      }
      const d = call(['delete', '--force', id]);
      assert.equal(d.code, 0, show(d));
      for (const dir of got.dirs) assert.ok(!fs.existsSync(dir), `${dir} is still there`);
      if (driver.name === 'systemd') {
        const units = spawnSync('systemctl', ['list-units', '--all', '--no-legend', unit], {
          encoding: 'utf8',
        });
        assert.equal(units.stdout.trim(), '', `systemd still has ${units.stdout}`);
      }
    });
});
