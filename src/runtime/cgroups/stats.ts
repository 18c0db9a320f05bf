// What a container's cgroups say about it, in runc's stats event shape (cpu, memory, pids, blkio,
// hugetlb), and its OOM kill count: read from the directories its record keeps.
import fs = require('node:fs');
import path = require('node:path');
import type { ContainerRecord } from '../../state/store';
import { blkioStats, hugetlbStats } from './stats-blkio-hugetlb';

function read(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

const num = (s: string | null) => (s === null || s === '' || s === 'max' ? 0 : Number(s));

function keyed(text: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.split(/\s+/);
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

// The container's directory of one controller: a v1 hierarchy named for it, else the v2 one.
function dirFor(rec: ContainerRecord, controller: string): { dir: string; v2: boolean } | null {
  for (const d of rec.cgroupDirs) {
    const mount = d.split('/')[4] ?? ''; // /sys/fs/cgroup/<mount>/...
    if (mount.split(',').includes(controller)) return { dir: d, v2: false };
  }
  const v2 = rec.cgroupDirs.find((d) => fs.existsSync(path.join(d, 'cgroup.controllers')));
  return v2 ? { dir: v2, v2: true } : null;
}

export function stats(rec: ContainerRecord): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  const cpu = dirFor(rec, 'cpuacct') ?? dirFor(rec, 'cpu');
  if (cpu) {
    if (cpu.v2) {
      const s = keyed(read(path.join(cpu.dir, 'cpu.stat')));
      data.cpu = {
        usage: {
          total: (s.usage_usec ?? 0) * 1000,
          user: (s.user_usec ?? 0) * 1000,
          kernel: (s.system_usec ?? 0) * 1000,
        },
        throttling: {
          periods: s.nr_periods ?? 0,
          throttledPeriods: s.nr_throttled ?? 0,
          throttledTime: (s.throttled_usec ?? 0) * 1000,
        },
      };
    } else {
      const s = keyed(read(path.join(cpu.dir, 'cpuacct.stat')));
      const tick = 1e9 / 100; // USER_HZ
      data.cpu = {
        usage: {
          total: num(read(path.join(cpu.dir, 'cpuacct.usage'))),
          percpu: (read(path.join(cpu.dir, 'cpuacct.usage_percpu')) ?? '')
            .split(/\s+/)
            .filter(Boolean)
            .map(Number),
          user: (s.user ?? 0) * tick,
          kernel: (s.system ?? 0) * tick,
        },
        throttling: {},
      };
    }
  }
  const mem = dirFor(rec, 'memory');
  if (mem) {
    const f = (v1: string, v2: string) => num(read(path.join(mem.dir, mem.v2 ? v2 : v1)));
    data.memory = {
      usage: {
        usage: f('memory.usage_in_bytes', 'memory.current'),
        max: f('memory.max_usage_in_bytes', 'memory.peak'),
        limit: f('memory.limit_in_bytes', 'memory.max'),
        failcnt: mem.v2 ? 0 : f('memory.failcnt', ''),
      },
      raw: keyed(read(path.join(mem.dir, 'memory.stat'))),
    };
  }
  const pids = dirFor(rec, 'pids');
  if (pids)
    data.pids = {
      current: num(read(path.join(pids.dir, 'pids.current'))),
      limit: num(read(path.join(pids.dir, 'pids.max'))),
    };
  const blkio = dirFor(rec, 'blkio');
  data.blkio = blkio ? blkioStats(blkio.dir, blkio.v2) : {};
  const huge = dirFor(rec, 'hugetlb');
  data.hugetlb = huge ? hugetlbStats(huge.dir, huge.v2) : {};
  return { type: 'stats', id: rec.id, data };
}

export function oomKills(rec: ContainerRecord): number {
  const mem = dirFor(rec, 'memory');
  if (!mem) return 0;
  if (mem.v2) return keyed(read(path.join(mem.dir, 'memory.events'))).oom_kill ?? 0;
  return keyed(read(path.join(mem.dir, 'memory.oom_control'))).oom_kill ?? 0;
}
