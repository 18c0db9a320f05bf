// The systemd driver's planning: cgroupsPath "slice:prefix:name", slice expansion, where the
// unit's directories are on each layout, and the unit properties that carry the resources.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HOSTS, load, throwsHusk } from './helpers.mjs';

const sd = load('plan/systemd-unit.js');
const { planCgroups } = load('plan/cgroups.js');

const spec = (cgroupsPath, resources) => ({ ociVersion: '1.2.0', linux: { cgroupsPath, resources } });
const props = (plan) => Object.fromEntries(plan.systemd.properties.map((p) => [p.name, p.value]));
const ROOT = { base: '/', userManager: false };

describe('systemd slices and unit names', () => {
  test('a slice nests under the slices its dashes name', () => {
    assert.equal(sd.expandSlice('system.slice'), '/system.slice');
    assert.equal(sd.expandSlice('a-b-c.slice'), '/a.slice/a-b.slice/a-b-c.slice');
    assert.equal(sd.expandSlice('user-1000.slice'), '/user.slice/user-1000.slice');
    assert.equal(sd.expandSlice('-.slice'), '/');
  });

  test('names that are not slices are refused, naming cgroupsPath', () => {
    for (const bad of ['system', '.slice', 'a--b.slice', '-a.slice', 'a-.slice', 'a/b.slice'])
      throwsHusk(() => sd.expandSlice(bad), /\/linux\/cgroupsPath: invalid slice name/);
  });

  test('cgroupsPath slice:prefix:name, with the defaults runc uses', () => {
    assert.deepEqual(sd.parseSystemdPath(spec(), 'c1', false), {
      slice: 'system.slice',
      unit: 'husk-c1.scope',
      isSlice: false,
    });
    assert.equal(sd.parseSystemdPath(spec(), 'c1', true).slice, 'user.slice');
    assert.deepEqual(sd.parseSystemdPath(spec('machine.slice:libpod:abc'), 'x', false), {
      slice: 'machine.slice',
      unit: 'libpod-abc.scope',
      isSlice: false,
    });
    assert.equal(sd.parseSystemdPath(spec(':docker:1'), 'x', false).slice, 'system.slice');
    assert.deepEqual(sd.parseSystemdPath(spec('system.slice:ignored:k8s-pod.slice'), 'x', false), {
      slice: 'system.slice',
      unit: 'k8s-pod.slice',
      isSlice: true,
    });
  });

  test('bad cgroupsPaths are refused with the field named', () => {
    throwsHusk(
      () => sd.parseSystemdPath(spec('/a/b'), 'x', false),
      /\/linux\/cgroupsPath: "\/a\/b" is not of the form "slice:prefix:name"/,
    );
    throwsHusk(() => sd.parseSystemdPath(spec('a:b'), 'x', false), /slice:prefix:name/);
    throwsHusk(() => sd.parseSystemdPath(spec('system.slice:p:'), 'x', false), /empty name/);
    throwsHusk(() => sd.parseSystemdPath(spec('nonslice:p:n'), 'x', false), /invalid slice name "nonslice"/);
    throwsHusk(
      () => sd.parseSystemdPath(spec('system.slice:p:a b'), 'x', false),
      /"p-a b.scope" is not a valid systemd unit name/,
    );
    throwsHusk(
      () => sd.parseSystemdPath(spec(`system.slice:p:${'n'.repeat(250)}`), 'x', false),
      /at most 255 bytes/,
    );
  });

  test('the unit directory: base, expanded slice, unit; a slice unit where its name puts it', () => {
    const scope = { slice: 'a-b.slice', unit: 'husk-x.scope', isSlice: false };
    assert.equal(sd.systemdRelPath(scope, '/'), '/a.slice/a-b.slice/husk-x.scope');
    assert.equal(
      sd.systemdRelPath(scope, '/user.slice/user-1000.slice/user@1000.service'),
      '/user.slice/user-1000.slice/user@1000.service/a.slice/a-b.slice/husk-x.scope',
    );
    assert.equal(
      sd.systemdRelPath({ slice: 'system.slice', unit: 'p-q.slice', isSlice: true }, '/'),
      '/p.slice/p-q.slice',
    );
    assert.equal(
      sd.systemdRelPath({ slice: '-.slice', unit: 'h-x.scope', isSlice: false }, '/'),
      '/h-x.scope',
    );
  });
});

describe('systemd plans per cgroup layout', () => {
  for (const mode of ['v1', 'v2', 'hybrid']) {
    test(`${mode}: every hierarchy gets the unit's path; the files are still written`, () => {
      const plan = planCgroups(
        spec('my-app.slice:husk:c9', { memory: { limit: 64 << 20 } }),
        HOSTS[mode](),
        'c9',
        ROOT,
      );
      const rel = '/my.slice/my-app.slice/husk-c9.scope';
      assert.equal(plan.relPath, rel);
      for (const d of plan.dirs) assert.ok(d.endsWith(rel), d);
      assert.equal(plan.systemd.unit, 'husk-c9.scope');
      const file = mode === 'v2' ? 'memory.max' : 'memory.limit_in_bytes';
      assert.ok(
        plan.writes.some((w) => w.file === file && w.value === String(64 << 20)),
        'the limit is written too',
      );
      const p = props(plan);
      assert.equal(p[mode === 'v2' ? 'MemoryMax' : 'MemoryLimit'], BigInt(64 << 20));
      assert.equal(p[mode === 'v2' ? 'IOAccounting' : 'BlockIOAccounting'], true);
    });
  }

  test("a scope gets Slice and Delegate, a slice unit Wants and no Delegate; runc's fixed properties", () => {
    const scope = props(planCgroups(spec('system.slice:p:n'), HOSTS.v2(), 'x', ROOT));
    assert.deepEqual(
      { ...scope },
      {
        Description: 'husk container x',
        Slice: 'system.slice',
        Delegate: true,
        MemoryAccounting: true,
        CPUAccounting: true,
        IOAccounting: true,
        TasksAccounting: true,
        DefaultDependencies: false,
      },
    );
    const slice = props(planCgroups(spec('system.slice:p:n-m.slice'), HOSTS.v2(), 'x', ROOT));
    assert.deepEqual(slice.Wants, ['system.slice']);
    assert.equal(slice.Delegate, undefined);
    assert.equal(slice.Slice, undefined);
  });

  test('no cgroupsPath: system.slice/husk-<id>.scope, never /husk/<id>', () => {
    const plan = planCgroups(spec(), HOSTS.hybrid(), 'abc', ROOT);
    assert.equal(plan.relPath, '/system.slice/husk-abc.scope');
    assert.ok(plan.dirs.includes('/sys/fs/cgroup/unified/system.slice/husk-abc.scope'));
  });

  test('without the driver a systemd path is still refused, and no host cgroups is an error for it', () => {
    throwsHusk(() => planCgroups(spec('system.slice:p:n'), HOSTS.v2(), 'x'), /needs --systemd-cgroup/);
    throwsHusk(
      () => planCgroups(spec(), { ...HOSTS.v2(), cgroupMode: 'none' }, 'x', ROOT),
      /--systemd-cgroup: this host has no cgroups/,
    );
  });
});

describe('systemd resource properties', () => {
  const res = {
    memory: { limit: 100 << 20, reservation: 50 << 20, swap: 300 << 20 },
    cpu: { shares: 1024, quota: 33333, period: 100000, cpus: '0-2,7', mems: '0' },
    pids: { limit: 42 },
    blockIO: { weight: 500 },
  };

  test('v2: MemoryMax/Low/SwapMax (swap alone), CPUWeight, quota per second, TasksMax, cpusets', () => {
    const p = Object.fromEntries(sd.resourceProperties(res, true).map((x) => [x.name, x]));
    assert.equal(p.MemoryMax.value, BigInt(100 << 20));
    assert.equal(p.MemoryLow.value, BigInt(50 << 20));
    assert.equal(p.MemorySwapMax.value, BigInt(200 << 20));
    assert.equal(p.CPUWeight.value, 39n); // 1 + (1024 - 2) * 9999 / 262142
    assert.equal(p.CPUQuotaPerSecUSec.value, 340000n); // 333330 µs/s rounded up to 1 %
    assert.equal(p.CPUQuotaPeriodUSec.minVersion, 242);
    assert.deepEqual(p.AllowedCPUs, { name: 'AllowedCPUs', type: 'ay', value: [0x87], minVersion: 244 });
    assert.deepEqual(p.AllowedMemoryNodes.value, [1]);
    assert.equal(p.TasksMax.value, 42n);
    assert.equal(p.BlockIOWeight, undefined, 'v2 has no BlockIOWeight');
  });

  test('v1: MemoryLimit, CPUShares, BlockIOWeight; no v2-only memory properties', () => {
    const p = Object.fromEntries(sd.resourceProperties(res, false).map((x) => [x.name, x.value]));
    assert.equal(p.MemoryLimit, BigInt(100 << 20));
    assert.equal(p.CPUShares, 1024n);
    assert.equal(p.BlockIOWeight, 500n);
    assert.equal(p.MemoryLow, undefined);
    assert.equal(p.MemorySwapMax, undefined);
  });

  test('unlimited is USEC_INFINITY; zero means "not set"; quota -1 lifts the limit', () => {
    const p = (r) => Object.fromEntries(sd.resourceProperties(r, true).map((x) => [x.name, x.value]));
    assert.equal(p({ memory: { limit: -1 } }).MemoryMax, 2n ** 64n - 1n);
    assert.equal(p({ pids: { limit: -1 } }).TasksMax, 2n ** 64n - 1n);
    assert.deepEqual(p({ pids: { limit: 0 }, memory: { limit: 0 }, cpu: { shares: 0 } }), {});
    assert.equal(p({ cpu: { quota: -1, period: 50000 } }).CPUQuotaPerSecUSec, 2n ** 64n - 1n);
    assert.equal(p({ cpu: { quota: 50000, period: 100000 } }).CPUQuotaPerSecUSec, 500000n);
  });

  test('cpu lists become bitmasks, byte n for cpus 8n..8n+7; bad lists name the field', () => {
    assert.deepEqual(sd.rangeToBytes('0-2,7', 'f'), [0x87]);
    assert.deepEqual(sd.rangeToBytes('8', 'f'), [0, 1]);
    assert.deepEqual(sd.rangeToBytes('1,3-4,15', 'f'), [0x1a, 0x80]);
    throwsHusk(
      () => sd.resourceProperties({ cpu: { cpus: '3-1' } }, true),
      /\/linux\/resources\/cpu\/cpus: "3-1" is not a list of ranges/,
    );
    throwsHusk(() => sd.rangeToBytes('a', '/x'), /\/x: "a"/);
  });
});
