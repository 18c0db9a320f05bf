// The systemd driver against a fake systemd (test/lib/fake-systemd.mjs) in its own process: the
// bus handshake, the properties StartTransientUnit gets, waiting for JobRemoved, errors and
// time-outs, stop. The fake makes each unit's directory in a scratch tree; no root needed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HOSTS, load } from './helpers.mjs';
import { propertiesOf, startFakeSystemd } from '../lib/systemd-fake.mjs';

const driver = load('runtime/cgroups/systemd-driver.js');
const { planCgroups } = load('plan/cgroups.js');
const { SystemdManager } = load('runtime/cgroups/systemd/index.js');
const { native } = load('native/index.js');

const USER = process.geteuid() !== 0;
const ENV = ['DBUS_SYSTEM_BUS_ADDRESS', 'DBUS_SESSION_BUS_ADDRESS', 'HUSK_INTERNAL_ASSUME_SYSTEMD'];

// A fake systemd whose units land in a scratch tree; the environment points the driver at it.
async function fake(t, options = {}) {
  const tree = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-sd-tree-'));
  const f = await startFakeSystemd({ roots: [tree], base: '/', ...options });
  const saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));
  process.env.DBUS_SYSTEM_BUS_ADDRESS = f.address;
  process.env.DBUS_SESSION_BUS_ADDRESS = f.address;
  process.env.HUSK_INTERNAL_ASSUME_SYSTEMD = '1';
  t.after(async () => {
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    await f.stop();
    fs.rmSync(tree, { recursive: true, force: true });
  });
  return { ...f, tree };
}

function transport() {
  const n = native();
  return {
    connect: (p) => n.connectUnix(p),
    readWithin: (fd, ms) => n.readWithin(fd, ms),
    write: (fd, b) => fs.writeSync(fd, b),
    close: (fd) => fs.closeSync(fd),
  };
}

const plan = (cgroupsPath, resources, id = 'c1') =>
  planCgroups({ linux: { cgroupsPath, resources } }, HOSTS.hybrid(), id, { base: '/', userManager: USER });

describe('systemd driver against a fake systemd', () => {
  test('start: auth, Hello, AddMatch, Subscribe, then StartTransientUnit with the init in PIDs', async (t) => {
    const f = await fake(t);
    const p = plan('test-a.slice:husk:c1', { memory: { limit: 32 << 20 }, pids: { limit: 10 } });
    driver.startUnit(p, 4321, USER);
    const recs = f.records();
    assert.deepEqual(recs[0], { auth: 'EXTERNAL', uid: String(process.geteuid()) });
    assert.deepEqual(
      recs.slice(1).map((r) => r.member),
      ['Hello', 'AddMatch', 'Subscribe', 'StartTransientUnit'],
    );
    assert.match(recs[2].body[0], /member='JobRemoved'/);
    const start = f.calls('StartTransientUnit')[0];
    assert.equal(start.destination, 'org.freedesktop.systemd1');
    assert.deepEqual(start.body.slice(0, 2), ['husk-c1.scope', 'replace']);
    assert.deepEqual(start.body[3], []);
    const got = propertiesOf(start);
    assert.deepEqual(got.PIDs, [4321]);
    assert.equal(got.Slice, 'test-a.slice');
    assert.equal(got.Delegate, true);
    assert.equal(got.DefaultDependencies, false);
    assert.equal(got.MemoryLimit, `${32 << 20}n`);
    assert.equal(got.TasksMax, '10n');
    assert.ok(fs.existsSync(path.join(f.tree, 'test.slice/test-a.slice/husk-c1.scope')), 'the unit exists');

    driver.stopUnit({ unit: 'husk-c1.scope', userManager: USER });
    assert.equal(f.calls('StopUnit').length, 1);
    assert.deepEqual(f.calls('StopUnit')[0].body, ['husk-c1.scope', 'replace']);
    assert.ok(!fs.existsSync(path.join(f.tree, 'test.slice')), 'the unit and its slices are gone');
    // A unit that is gone already (systemd collects empty scopes) is not an error.
    driver.stopUnit({ unit: 'husk-c1.scope', userManager: USER });
  });

  test('a JobRemoved that arrives before the method reply is not missed', async (t) => {
    const f = await fake(t, { signalFirst: true });
    driver.startUnit(plan(), 1, USER);
    // The default slice is the manager's: system.slice for root's, user.slice for a user's own.
    assert.ok(fs.existsSync(path.join(f.tree, USER ? 'user.slice' : 'system.slice', 'husk-c1.scope')));
  });

  test('a slice unit gets no PIDs (the init joins it through cgroupfs)', async (t) => {
    const f = await fake(t);
    driver.startUnit(plan('system.slice:x:pod-a.slice'), 77, USER);
    const got = propertiesOf(f.calls('StartTransientUnit')[0]);
    assert.equal(got.PIDs, undefined);
    assert.deepEqual(got.Wants, ['system.slice']);
    assert.ok(fs.existsSync(path.join(f.tree, 'pod.slice/pod-a.slice')));
  });

  test('properties newer than the running systemd are left out', async (t) => {
    const f = await fake(t, { version: '241' });
    driver.startUnit(plan(undefined, { cpu: { cpus: '0', quota: 1000, period: 10000 } }), 1, USER);
    const got = propertiesOf(f.calls('StartTransientUnit')[0]);
    assert.equal(got.CPUQuotaPerSecUSec, '100000n');
    assert.equal(got.AllowedCPUs, undefined, 'AllowedCPUs needs systemd 244');
    assert.equal(got.CPUQuotaPeriodUSec, undefined, 'CPUQuotaPeriodUSec needs 242');
    assert.equal(f.calls('Get').length, 1, 'the version was asked once');
  });

  test('annotations and device rules reach systemd as properties of their D-Bus types', async (t) => {
    const f = await fake(t);
    const spec = {
      linux: {
        cgroupsPath: 'system.slice:husk:c1',
        resources: {
          devices: [
            { allow: false, access: 'rwm' },
            { allow: true, type: 'c', major: 10, minor: 200 },
          ],
        },
      },
      annotations: {
        'org.systemd.property.TimeoutStopSec': '5',
        'org.systemd.property.CollectMode': "'inactive-or-failed'",
        'org.systemd.property.RequiresMountsFor': "['/srv', '/data']",
        'org.systemd.property.CPUWeight': 'uint64 50',
      },
    };
    const p = planCgroups(spec, HOSTS.hybrid(), 'c1', { base: '/', userManager: USER });
    assert.deepEqual(driver.startUnit(p, 1, USER), []);
    // As sent: [name, { type, value }], in order; 64-bit values come back as "<n>n".
    const sent = f.calls('StartTransientUnit')[0].body[2];
    const last = (name) => sent.filter(([k]) => k === name).at(-1)?.[1];
    assert.deepEqual(last('TimeoutStopUSec'), { type: 't', value: '5000000n' });
    assert.deepEqual(last('CollectMode'), { type: 's', value: 'inactive-or-failed' });
    assert.deepEqual(last('RequiresMountsFor'), { type: 'as', value: ['/srv', '/data'] });
    assert.deepEqual(last('CPUWeight'), { type: 't', value: '50n' });
    assert.deepEqual(last('DevicePolicy'), { type: 's', value: 'strict' });
    const allow = last('DeviceAllow');
    assert.equal(allow.type, 'a(ss)');
    assert.deepEqual(allow.value.at(-2), ['/dev/char/10:200', 'rwm']);
    assert.deepEqual(allow.value.at(-1), ['char-136', 'rwm']);
    assert.equal(sent.filter(([k]) => k === 'DeviceAllow')[0][1].value.length, 0, 'emptied first');
    assert.ok(
      sent.findIndex(([k]) => k === 'TimeoutStopUSec') > sent.findIndex(([k]) => k === 'DeviceAllow'),
      'annotations come last',
    );
  });

  test('systemd before 240 gets DeviceAllow in its older names', async (t) => {
    const f = await fake(t, { version: '239' });
    const devices = [
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 10, minor: 200 },
    ];
    const p = plan(undefined, { devices });
    const warnings = driver.startUnit(p, 1, USER);
    const sent = f.calls('StartTransientUnit')[0].body[2].filter(([k]) => k === 'DeviceAllow');
    const names = sent.at(-1)[1].value.map(([n]) => n);
    assert.ok(!names.includes('char-136'), 'no char-<major> for an old systemd');
    let pts = null;
    try {
      pts = /^\s*136 (\S+)$/m.exec(fs.readFileSync('/proc/devices', 'utf8'))?.[1] ?? null;
    } catch {
      /* no /proc/devices: the entry is dropped with a warning */
    }
    if (pts) assert.ok(names.includes(`char-${pts}`), JSON.stringify(names));
    else assert.ok(warnings.some((w) => /char-136/.test(w)));
    assert.equal(names.includes('/dev/char/10:200'), fs.existsSync('/dev/char/10:200'));
  });

  test('a failed job, an existing unit and a dead bus are errors naming the flag and the unit', async (t) => {
    const f = await fake(t, { jobResult: 'failed' });
    assert.throws(
      () => driver.startUnit(plan(), 1, USER),
      /--systemd-cgroup: start husk-c1.scope: systemd could not start husk-c1.scope: job failed/,
    );
    assert.ok(f.calls('ResetFailedUnit').length >= 1, 'a failed unit is reset, as runc does');

    const g = await fake(t);
    process.env.DBUS_SYSTEM_BUS_ADDRESS = process.env.DBUS_SESSION_BUS_ADDRESS = g.address;
    driver.startUnit(plan(), 1, USER);
    assert.throws(() => driver.startUnit(plan(), 1, USER), /org\.freedesktop\.systemd1\.UnitExists/);
    assert.equal(g.calls('StartTransientUnit').length, 3, 'tried again once after a reset');

    process.env.DBUS_SYSTEM_BUS_ADDRESS =
      process.env.DBUS_SESSION_BUS_ADDRESS = `unix:path=${g.dir}/nothing-here`;
    assert.throws(
      () => driver.startUnit(plan(), 1, USER),
      /--systemd-cgroup: cannot talk to systemd at unix:path=.*nothing-here: connect to/,
    );
  });

  test('a job that never ends times out instead of hanging', async (t) => {
    const f = await fake(t, { noJobRemoved: true });
    const m = SystemdManager.connect({
      io: transport(),
      address: f.address,
      uid: process.geteuid(),
      timeoutMs: 300,
    });
    const t0 = Date.now();
    try {
      assert.throws(
        () => m.startTransientUnit('husk-t.scope', []),
        /systemd did not start husk-t.scope within 300 ms/,
      );
    } finally {
      m.close();
    }
    assert.ok(Date.now() - t0 < 3000);
  });

  test('features: systemd works only when it is running and answers', async (t) => {
    const f = await fake(t);
    assert.equal(driver.systemdWorks(USER), true);
    process.env.DBUS_SYSTEM_BUS_ADDRESS = process.env.DBUS_SESSION_BUS_ADDRESS = `unix:path=${f.dir}/none`;
    assert.equal(driver.systemdWorks(USER), false);
    delete process.env.HUSK_INTERNAL_ASSUME_SYSTEMD;
    if (!fs.existsSync('/run/systemd/system')) {
      process.env.DBUS_SYSTEM_BUS_ADDRESS = process.env.DBUS_SESSION_BUS_ADDRESS = f.address;
      assert.equal(driver.systemdWorks(USER), false, 'not booted with systemd: false even if a bus answers');
      assert.throws(
        () => driver.systemdDriver(),
        /--systemd-cgroup: systemd is not running on this host \(no \/run\/systemd\/system\)/,
      );
    }
  });

  test("which systemd: the system's for root, the user's for anyone else and for root in a user namespace", () => {
    assert.equal(
      driver.usesUserManager(0, () => false),
      false,
    );
    assert.equal(
      driver.usesUserManager(1000, () => false),
      true,
    );
    // Rootless podman runs its runtime as uid 0 inside its user namespace (issue 23).
    assert.equal(
      driver.usesUserManager(0, () => true),
      true,
    );
  });

  test('bus addresses: the system bus, the user bus, abstract sockets', () => {
    const saved = { ...process.env };
    try {
      delete process.env.DBUS_SYSTEM_BUS_ADDRESS;
      assert.equal(driver.busAddress(false), 'unix:path=/run/dbus/system_bus_socket');
      delete process.env.DBUS_SESSION_BUS_ADDRESS;
      process.env.XDG_RUNTIME_DIR = '/run/user/1000';
      assert.equal(driver.busAddress(true), 'unix:path=/run/user/1000/bus');
      delete process.env.XDG_RUNTIME_DIR;
      assert.throws(() => driver.busAddress(true), /neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR/);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
    const { socketFromAddress } = load('runtime/cgroups/systemd/index.js');
    assert.equal(socketFromAddress('tcp:host=x;unix:path=/a%20b,guid=1'), '/a b');
    assert.equal(socketFromAddress('unix:abstract=/tmp/dbus-x'), '@/tmp/dbus-x');
    assert.throws(() => socketFromAddress('tcp:host=x,port=1'), /names no unix socket/);
  });
});
