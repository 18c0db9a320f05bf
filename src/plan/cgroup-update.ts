// What `update` writes, beyond create's plan: the values that mean "unchanged", and the order of
// the v1 files whose kernel checks compare them with each other. Pure: the current values come in.
import type { Resources } from '../spec/types';
import type { CgroupWrite } from './cgroups';

// Engines send the whole resources block with zeros where nothing changes (containerd's shim
// passes docker's update as `--resources -`); runc leaves the current value for a zero (or
// absent) memory limit, reservation, swap and kernel limits, cpu shares, quota, period and
// realtime values, blkio weight and pids limit, and for empty cpuset strings. So does husk.
export function dropUnchanged(res: Resources): Resources {
  const out: Resources = { ...res };
  const keep = <T extends object>(
    o: T | undefined,
    zero: (k: string, v: unknown) => boolean,
  ): T | undefined => {
    if (!o) return o;
    const kept = Object.fromEntries(
      Object.entries(o).filter(([k, v]) => v !== undefined && v !== null && !zero(k, v)),
    );
    return Object.keys(kept).length ? (kept as T) : undefined;
  };
  const isZero = (v: unknown) => v === 0 || v === '';
  const MEMORY = ['limit', 'reservation', 'swap', 'kernel', 'kernelTCP'];
  const CPU = ['shares', 'quota', 'period', 'realtimeRuntime', 'realtimePeriod', 'cpus', 'mems'];
  out.memory = keep(res.memory, (k, v) => MEMORY.includes(k) && isZero(v));
  out.cpu = keep(res.cpu, (k, v) => CPU.includes(k) && isZero(v));
  out.pids = keep(res.pids, (k, v) => k === 'limit' && isZero(v));
  out.blockIO = keep(res.blockIO, (k, v) => (k === 'weight' || k === 'leafWeight') && isZero(v));
  for (const k of Object.keys(out) as (keyof Resources)[]) if (out[k] === undefined) delete out[k];
  return out;
}

// The container's current values that decide the order (null: unknown, not read).
export interface CurrentV1 {
  memoryLimit: number | null; // memory.limit_in_bytes
  hasMemsw: boolean; // memory.memsw.limit_in_bytes exists (swap accounting is on)
  cfsPeriod: number | null; // cpu.cfs_period_us
}

const at = (writes: CgroupWrite[], file: string) => writes.findIndex((w) => w.file === file);

function moveBefore(writes: CgroupWrite[], from: number, to: number): void {
  const [w] = writes.splice(from, 1);
  writes.splice(to, 0, w);
}

// cgroup v1 checks memory.limit_in_bytes <= memory.memsw.limit_in_bytes, and a child's
// cfs_quota_us / cfs_period_us against its parent's, at every write: the writes go in an order
// each step of which is valid for the current and the new values (runc's rules).
// - memory -1 with no swap given: memsw goes to -1 as well (else the limit cannot pass it).
// - memsw before memory when memsw becomes unlimited or exceeds the current memory limit.
// - quota before period when the period is lowered (the ratio would rise above the parent's).
export function orderV1Writes(planned: CgroupWrite[], current: CurrentV1): CgroupWrite[] {
  const writes = [...planned];
  let limit = at(writes, 'memory.limit_in_bytes');
  if (
    limit >= 0 &&
    writes[limit].value === '-1' &&
    at(writes, 'memory.memsw.limit_in_bytes') < 0 &&
    current.hasMemsw
  ) {
    writes.splice(limit + 1, 0, {
      ...writes[limit],
      file: 'memory.memsw.limit_in_bytes',
      from: '/linux/resources/memory/swap',
    });
  }
  limit = at(writes, 'memory.limit_in_bytes');
  const memsw = at(writes, 'memory.memsw.limit_in_bytes');
  if (limit >= 0 && memsw > limit) {
    const swap = Number(writes[memsw].value);
    if (swap === -1 || (current.memoryLimit !== null && current.memoryLimit < swap))
      moveBefore(writes, memsw, limit);
  }
  const period = at(writes, 'cpu.cfs_period_us');
  const quota = at(writes, 'cpu.cfs_quota_us');
  if (
    period >= 0 &&
    quota > period &&
    current.cfsPeriod !== null &&
    Number(writes[period].value) < current.cfsPeriod
  )
    moveBefore(writes, quota, period);
  return writes;
}
