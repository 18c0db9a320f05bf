// A frozen cgroup at create: a process that joins one stops there and can neither run nor die
// (v1), so create refuses such a cgroup before its init joins, as runc does, and a create that
// gives up on its init moves it out before it kills it.
import fs = require('node:fs');
import path = require('node:path');
import type { CgroupPlan } from '../../plan/cgroups';

// A file's trimmed content, or null when it cannot be read (no such directory yet).
export type ReadFile = (file: string) => string | null;

function readOrNull(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

// The directory and its ancestors up to the hierarchy's mountpoint, deepest first.
function upTo(dir: string, mountpoint: string): string[] {
  const out: string[] = [];
  for (let d = dir; d.startsWith(mountpoint); d = path.posix.dirname(d)) {
    out.push(d);
    if (d === mountpoint || d === '/') break;
  }
  return out;
}

// The freezer file that says the container's cgroup is (or will be, once made) frozen, or null.
// v1: freezer.state of the nearest directory that exists, which reports the state it inherits
// from its parents too (a new child of a frozen cgroup is born frozen). v2 (also the cgroup2
// hierarchy of a hybrid host, which the init joins as well): cgroup.freeze of the directory or of
// any ancestor, or its cgroup.events saying frozen.
export function frozenCgroup(plan: CgroupPlan, read: ReadFile = readOrNull): string | null {
  const v1 = plan.v1.find((h) => h.controllers.includes('freezer'));
  if (v1)
    for (const d of upTo(v1.dir, v1.mountpoint)) {
      const state = read(path.posix.join(d, 'freezer.state'));
      if (state === null) continue;
      if (state !== 'THAWED') return path.posix.join(d, 'freezer.state');
      break;
    }
  if (plan.unifiedDir) {
    const mount = plan.unifiedDir.slice(0, plan.unifiedDir.length - plan.relPath.length) || '/';
    for (const d of upTo(plan.unifiedDir, mount)) {
      if (read(path.posix.join(d, 'cgroup.freeze')) === '1') return path.posix.join(d, 'cgroup.freeze');
      if (/^frozen 1$/m.test(read(path.posix.join(d, 'cgroup.events')) ?? ''))
        return path.posix.join(d, 'cgroup.events');
    }
  }
  return null;
}

// A process in a frozen v1 cgroup does not die of SIGKILL until it is thawed; moving it to the
// hierarchy's root thaws it alone and leaves the cgroup as its owner froze it. (A frozen v2
// process dies of SIGKILL where it is.)
export function moveOutOfFrozen(plan: CgroupPlan, pids: number[], read: ReadFile = readOrNull): void {
  const v1 = plan.v1.find((h) => h.controllers.includes('freezer'));
  if (!v1 || (read(path.posix.join(v1.dir, 'freezer.state')) ?? 'THAWED') === 'THAWED') return;
  for (const pid of pids)
    if (pid > 0)
      try {
        fs.writeFileSync(path.posix.join(v1.mountpoint, 'cgroup.procs'), String(pid));
      } catch {
        /* gone already */
      }
}
