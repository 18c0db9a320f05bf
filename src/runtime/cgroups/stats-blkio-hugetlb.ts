// The blkio and hugetlb parts of `events --stats`, in runc's JSON shape (its types/events.go):
// blkio lists of {major, minor, op, value} per kind, hugetlb a map from page size ("2MB") to
// {usage, max, failcnt}; zero fields are left out where runc's omitempty leaves them out.
import fs = require('node:fs');
import path = require('node:path');

export interface BlkioEntry {
  major?: number;
  minor?: number;
  op?: string;
  value?: number;
}

function read(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function entry(major: number, minor: number, op: string, value: number): BlkioEntry {
  const e: BlkioEntry = {};
  if (major) e.major = major;
  if (minor) e.minor = minor;
  if (op) e.op = op;
  if (value) e.value = value;
  return e;
}

// v1 "8:0 Read 4096" lines (and "8:0 4096" for time and sectors); "Total 4096" is a sum, left out.
export function parseBlkioV1(text: string | null): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    const dev = /^(\d+):(\d+)$/.exec(f[0] ?? '');
    if (!dev) continue;
    const [op, value] = f.length >= 3 ? [f[1], f[2]] : ['', f[1]];
    out.push(entry(Number(dev[1]), Number(dev[2]), op, Number(value)));
  }
  return out;
}

// v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6" per device.
export function parseIoStatV2(text: string | null): Record<string, BlkioEntry[]> {
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  const ops: Record<string, [BlkioEntry[], string]> = {
    rbytes: [bytes, 'Read'],
    wbytes: [bytes, 'Write'],
    dbytes: [bytes, 'Discard'],
    rios: [ios, 'Read'],
    wios: [ios, 'Write'],
    dios: [ios, 'Discard'],
  };
  for (const line of (text ?? '').split('\n')) {
    const [devField, ...pairs] = line.trim().split(/\s+/);
    const dev = /^(\d+):(\d+)$/.exec(devField ?? '');
    if (!dev) continue;
    for (const p of pairs) {
      const [k, v] = p.split('=');
      const to = ops[k];
      if (to) to[0].push(entry(Number(dev[1]), Number(dev[2]), to[1], Number(v)));
    }
  }
  const out: Record<string, BlkioEntry[]> = {};
  if (bytes.length) out.ioServiceBytesRecursive = bytes;
  if (ios.length) out.ioServicedRecursive = ios;
  return out;
}

// v1 keeps the same figures under one of three prefixes: CFQ's own (blkio.), BFQ's
// (blkio.bfq.) or, when no proportional scheduler is there, the throttling layer's. runc
// reads the first that exists, in that order.
export function blkioStats(dir: string, v2: boolean): Record<string, BlkioEntry[]> {
  if (v2) return parseIoStatV2(read(path.join(dir, 'io.stat')));
  const out: Record<string, BlkioEntry[]> = {};
  const put = (key: string, file: string) => {
    const list = parseBlkioV1(read(path.join(dir, file)));
    if (list.length) out[key] = list;
  };
  const has = (f: string) => fs.existsSync(path.join(dir, f));
  if (has('blkio.io_serviced_recursive')) {
    put('ioServiceBytesRecursive', 'blkio.io_service_bytes_recursive');
    put('ioServicedRecursive', 'blkio.io_serviced_recursive');
    put('ioQueueRecursive', 'blkio.io_queued_recursive');
    put('ioServiceTimeRecursive', 'blkio.io_service_time_recursive');
    put('ioWaitTimeRecursive', 'blkio.io_wait_time_recursive');
    put('ioMergedRecursive', 'blkio.io_merged_recursive');
    put('ioTimeRecursive', 'blkio.time_recursive');
    put('sectorsRecursive', 'blkio.sectors_recursive');
  } else if (has('blkio.bfq.io_serviced_recursive')) {
    put('ioServiceBytesRecursive', 'blkio.bfq.io_service_bytes_recursive');
    put('ioServicedRecursive', 'blkio.bfq.io_serviced_recursive');
  } else {
    put('ioServiceBytesRecursive', 'blkio.throttle.io_service_bytes_recursive');
    put('ioServicedRecursive', 'blkio.throttle.io_serviced_recursive');
  }
  return out;
}

export interface HugetlbStats {
  usage?: number;
  max?: number;
  failcnt: number;
}

// One entry per page size the directory has files for: v1 hugetlb.<size>.usage_in_bytes,
// max_usage_in_bytes, failcnt; v2 hugetlb.<size>.current and the "max" count of .events.
export function hugetlbStats(dir: string, v2: boolean): Record<string, HugetlbStats> {
  const out: Record<string, HugetlbStats> = {};
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return out;
  }
  const num = (f: string) => {
    const t = read(path.join(dir, f));
    return t === null ? 0 : Number(t.trim()) || 0;
  };
  const suffix = v2 ? '.current' : '.usage_in_bytes';
  for (const n of names) {
    const m = /^hugetlb\.([0-9]+[KMG]B)(\.rsvd)?\.(current|usage_in_bytes)$/.exec(n);
    if (!m || m[2] || !n.endsWith(suffix)) continue;
    const size = m[1];
    const s: HugetlbStats = { failcnt: 0 };
    const usage = num(n);
    if (usage) s.usage = usage;
    if (v2) {
      const events = read(path.join(dir, `hugetlb.${size}.events`)) ?? '';
      s.failcnt = Number(/^max\s+(\d+)/m.exec(events)?.[1] ?? 0);
    } else {
      const max = num(`hugetlb.${size}.max_usage_in_bytes`);
      if (max) s.max = max;
      s.failcnt = num(`hugetlb.${size}.failcnt`);
    }
    out[size] = s;
  }
  return out;
}
