// `events --stats`: blkio and hugetlb figures read from cgroup files (a scratch tree written
// with the kernel's formats) into runc's JSON shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { load } from './helpers.mjs';

const { blkioStats, hugetlbStats, parseBlkioV1, parseIoStatV2 } = load(
  'runtime/cgroups/stats-blkio-hugetlb.js',
);

function tree(t, files) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-stats-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(d, f), text);
  return d;
}

test('v1 blkio lines: device, op, value; Total lines and zero fields left out', () => {
  assert.deepEqual(parseBlkioV1('8:0 Read 4096\n8:0 Write 0\n8:16 Sync 12\nTotal 4108\n'), [
    { major: 8, op: 'Read', value: 4096 },
    { major: 8, op: 'Write' },
    { major: 8, minor: 16, op: 'Sync', value: 12 },
  ]);
  assert.deepEqual(parseBlkioV1('253:1 77\n'), [{ major: 253, minor: 1, value: 77 }]);
  assert.deepEqual(parseBlkioV1(null), []);
});

test('v2 io.stat: bytes and ios per device and direction', () => {
  assert.deepEqual(parseIoStatV2('8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n'), {
    ioServiceBytesRecursive: [
      { major: 8, op: 'Read', value: 100 },
      { major: 8, op: 'Write', value: 200 },
      { major: 8, op: 'Discard' },
    ],
    ioServicedRecursive: [
      { major: 8, op: 'Read', value: 1 },
      { major: 8, op: 'Write', value: 2 },
      { major: 8, op: 'Discard' },
    ],
  });
});

test('v1 blkio: CFQ files first, else BFQ, else the throttling layer', (t) => {
  const cfq = tree(t, {
    'blkio.io_serviced_recursive': '8:0 Read 3\n',
    'blkio.io_service_bytes_recursive': '8:0 Read 300\n',
    'blkio.sectors_recursive': '8:0 9\n',
    'blkio.throttle.io_serviced_recursive': '8:0 Read 99\n',
  });
  assert.deepEqual(blkioStats(cfq, false), {
    ioServicedRecursive: [{ major: 8, op: 'Read', value: 3 }],
    ioServiceBytesRecursive: [{ major: 8, op: 'Read', value: 300 }],
    sectorsRecursive: [{ major: 8, value: 9 }],
  });
  const bfq = tree(t, {
    'blkio.bfq.io_serviced_recursive': '8:0 Write 5\n',
    'blkio.throttle.io_serviced_recursive': '8:0 Read 99\n',
  });
  assert.deepEqual(blkioStats(bfq, false), { ioServicedRecursive: [{ major: 8, op: 'Write', value: 5 }] });
  const thr = tree(t, { 'blkio.throttle.io_service_bytes_recursive': '8:0 Read 7\nTotal 7\n' });
  assert.deepEqual(blkioStats(thr, false), { ioServiceBytesRecursive: [{ major: 8, op: 'Read', value: 7 }] });
  assert.deepEqual(blkioStats(tree(t, {}), false), {});
});

test('hugetlb: one entry per page size; v1 usage, max, failcnt; v2 current and the events max count', (t) => {
  const v1 = tree(t, {
    'hugetlb.2MB.usage_in_bytes': '4194304\n',
    'hugetlb.2MB.max_usage_in_bytes': '6291456\n',
    'hugetlb.2MB.failcnt': '3\n',
    'hugetlb.1GB.usage_in_bytes': '0\n',
    'hugetlb.1GB.max_usage_in_bytes': '0\n',
    'hugetlb.1GB.failcnt': '0\n',
  });
  assert.deepEqual(hugetlbStats(v1, false), {
    '2MB': { usage: 4194304, max: 6291456, failcnt: 3 },
    '1GB': { failcnt: 0 },
  });
  const v2 = tree(t, {
    'hugetlb.2MB.current': '2097152\n',
    'hugetlb.2MB.events': 'max 4\n',
    'hugetlb.2MB.rsvd.current': '0\n',
    'hugetlb.2MB.max': 'max\n',
  });
  assert.deepEqual(hugetlbStats(v2, true), { '2MB': { usage: 2097152, failcnt: 4 } });
  assert.deepEqual(hugetlbStats('/nonexistent', true), {});
});
