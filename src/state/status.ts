// A container's status is derived, never stored: its init alive (same pid and start time),
// the exec fifo still there (not started), the freezer (paused).
import fs = require('node:fs');
import path = require('node:path');
import type { Status } from '../spec/types';
import type { ContainerRecord } from './store';

export function startTimeOf(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: fields start after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return null;
    return rest[19];
  } catch {
    return null;
  }
}

// The comm of a container's init that has exited but is not yet reaped (same pid and start
// time), or null when there is no such zombie.
export function zombieComm(rec: ContainerRecord): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${rec.pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] !== 'Z' || rest[19] !== rec.startTime) return null;
    return stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  } catch {
    return null;
  }
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
