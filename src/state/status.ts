// A container's status is derived, never stored: its init alive (same pid and start time),
// the exec fifo still there (not started), the freezer (paused).
import fs = require('node:fs');
import path = require('node:path');
import type { Status } from '../spec/types';
import type { ContainerRecord } from './store';

// /proc/<pid>/stat as { state, comm, startTime }, or null when there is no such process.
function procStat(pid: number): { state: string; comm: string; startTime: string } | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: fields start after the last ')'.
    const close = stat.lastIndexOf(')');
    const rest = stat.slice(close + 2).split(' ');
    return { state: rest[0], comm: stat.slice(stat.indexOf('(') + 1, close), startTime: rest[19] };
  } catch {
    return null;
  }
}

// exited: also of a process that has exited and is not yet reaped (its pid is not reused until
// then): create records an init that ran its program and exited before it got to look.
export function startTimeOf(pid: number, exited = false): string | null {
  const s = procStat(pid);
  return !s || (!exited && (s.state === 'Z' || s.state === 'X')) ? null : s.startTime;
}

// The comm of a container's init that has exited but is not yet reaped (same pid and start
// time), or null when there is no such zombie.
export function zombieComm(rec: ContainerRecord): string | null {
  const s = procStat(rec.pid);
  return s && s.state === 'Z' && s.startTime === rec.startTime ? s.comm : null;
}

export function initAlive(rec: ContainerRecord): boolean {
  return rec.pid > 0 && startTimeOf(rec.pid) === rec.startTime;
}

function frozen(rec: ContainerRecord): boolean {
  if (!rec.freezerDir) return false;
  try {
    const v2 = rec.freezerDir.endsWith('cgroup.freeze');
    const v = fs.readFileSync(rec.freezerDir, 'utf8').trim();
    return v2 ? v === '1' : v === 'FROZEN' || v === 'FREEZING';
  } catch {
    return false;
  }
}

export function statusOf(rec: ContainerRecord, stateDir: string): Status {
  if (!initAlive(rec)) return 'stopped';
  if (fs.existsSync(path.join(stateDir, 'exec.fifo'))) return 'created';
  return frozen(rec) ? 'paused' : 'running';
}
