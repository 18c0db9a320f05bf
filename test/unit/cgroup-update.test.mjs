// src/plan/cgroup-update.ts: update's "unchanged" zeros (docker's whole resources block) and the
// order of the v1 files whose kernel checks compare them, on cgroup v1 and v2 plans.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, hostV1, hostV2 } from './helpers.mjs';

const { planCgroups } = load('plan/cgroups.js');
const { dropUnchanged, orderV1Writes } = load('plan/cgroup-update.js');

const MiB = 1 << 20;
const zeros = {
  memory: { limit: 0, reservation: 0, swap: 0, kernel: 0, kernelTCP: 0 },
  cpu: { shares: 0, quota: 0, period: 0, realtimeRuntime: 0, realtimePeriod: 0, cpus: '', mems: '' },
  pids: { limit: 0 },
  blockIO: { weight: 0 },
};
const files = (host, res) =>
  planCgroups({ linux: { resources: dropUnchanged(res) } }, host, 'c1').writes.map(
    (w) => `${w.file}=${w.value}`,
  );

test("dropUnchanged: docker's all-zero block is no change at all, on v1 and v2", () => {
  assert.deepEqual(dropUnchanged(zeros), {});
  assert.deepEqual(files(hostV1(), zeros), []);
  assert.deepEqual(files(hostV2(), zeros), []);
});

test('dropUnchanged: the one value given stays, with the rest of its block', () => {
  assert.deepEqual(dropUnchanged({ ...zeros, cpu: { ...zeros.cpu, shares: 512 } }), { cpu: { shares: 512 } });
  assert.deepEqual(files(hostV2(), { ...zeros, cpu: { ...zeros.cpu, shares: 512 } }), ['cpu.weight=20']);
  assert.deepEqual(files(hostV1(), { ...zeros, pids: { limit: 200 } }), ['pids.max=200']);
  assert.deepEqual(files(hostV2(), { ...zeros, memory: { ...zeros.memory, limit: 48 * MiB } }), [
    `memory.max=${48 * MiB}`,
  ]);
  // -1 is a value (unlimited), not "unchanged"; other memory fields are kept as they are.
  assert.deepEqual(dropUnchanged({ memory: { limit: -1, swap: 0, swappiness: 0 } }), {
    memory: { limit: -1, swappiness: 0 },
  });
  // Fields it does not know go through untouched.
  assert.deepEqual(dropUnchanged({ unified: { 'memory.high': '1000' }, pids: { limit: 0 } }), {
    unified: { 'memory.high': '1000' },
  });
});

const v1Writes = (res) => planCgroups({ linux: { resources: res } }, hostV1(), 'c1').writes;
const order = (res, current) => orderV1Writes(v1Writes(res), current).map((w) => `${w.file}=${w.value}`);
const cur = (o = {}) => ({ memoryLimit: 64 * MiB, hasMemsw: true, cfsPeriod: 100000, ...o });

test('orderV1Writes: memory -1 alone lifts memsw first', () => {
  assert.deepEqual(order({ memory: { limit: -1 } }, cur()), [
    'memory.memsw.limit_in_bytes=-1',
    'memory.limit_in_bytes=-1',
  ]);
  // Without swap accounting there is no memsw to lift.
  assert.deepEqual(order({ memory: { limit: -1 } }, cur({ hasMemsw: false })), ['memory.limit_in_bytes=-1']);
});

test('orderV1Writes: memsw first when it grows past the current limit, else memory first', () => {
  assert.deepEqual(order({ memory: { limit: 256 * MiB, swap: 512 * MiB } }, cur()), [
    `memory.memsw.limit_in_bytes=${512 * MiB}`,
    `memory.limit_in_bytes=${256 * MiB}`,
  ]);
  assert.deepEqual(order({ memory: { limit: 32 * MiB, swap: 48 * MiB } }, cur()), [
    `memory.limit_in_bytes=${32 * MiB}`,
    `memory.memsw.limit_in_bytes=${48 * MiB}`,
  ]);
});

test('orderV1Writes: quota before period when the period is lowered', () => {
  assert.deepEqual(order({ cpu: { period: 50000, quota: 20000 } }, cur()), [
    'cpu.cfs_quota_us=20000',
    'cpu.cfs_period_us=50000',
  ]);
  assert.deepEqual(order({ cpu: { period: 200000, quota: 20000 } }, cur()), [
    'cpu.cfs_period_us=200000',
    'cpu.cfs_quota_us=20000',
  ]);
  // Unknown current period: the plan's order.
  assert.deepEqual(order({ cpu: { period: 50000, quota: 20000 } }, cur({ cfsPeriod: null })), [
    'cpu.cfs_period_us=50000',
    'cpu.cfs_quota_us=20000',
  ]);
});

test('applyWritesOrRestore: a failed write puts the earlier files back, newest first, and names the file', async () => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { applyWritesOrRestore } = load('runtime/cgroups/cgroupfs.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-unit-upd-'));
  try {
    fs.writeFileSync(path.join(dir, 'memory.max'), '100\n');
    fs.writeFileSync(path.join(dir, 'io.max'), '8:0 rbps=5 wbps=max riops=max wiops=max\n');
    const w = (file, value) => ({ dir, file, value, from: `/x/${file}` });
    assert.throws(
      () =>
        applyWritesOrRestore([
          w('memory.max', '50'),
          w('io.max', '8:0 rbps=7'),
          w('io.max', '8:16 wbps=9'),
          w('pids.max', '10'),
        ]),
      (e) => /\/x\/pids\.max: this host has no pids\.max/.test(e.message) && /restored/.test(e.message),
    );
    assert.equal(fs.readFileSync(path.join(dir, 'memory.max'), 'utf8'), '100');
    // The device's earlier line went back last (a regular file keeps only the last write).
    assert.equal(
      fs.readFileSync(path.join(dir, 'io.max'), 'utf8'),
      '8:0 rbps=5 wbps=max riops=max wiops=max',
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
