// How a new process (a container's init, an exec'd process) enters its cgroups.
//
// The runtime writing the process's pid to cgroup.procs takes the kernel's global attach lock,
// whose first writer waits for an RCU grace period: 5-7 ms on the test machine, the largest
// single cost of a container's start, and it holds cgroup_mutex meanwhile. Two ways around it
// need no such lock:
// - cgroup v1: the first process moves its only thread itself ("0" to `tasks`), before it
//   joins or makes any namespace (JOIN_CGROUP);
// - cgroup2: the process is made in its directory by the fork (CLONE_INTO_CGROUP, see
//   CGROUP_INTO). The kernel checks the fork's creds against the directory, so the fork must
//   be made with the host's root creds (no user namespace), and outside any cgroup namespace
//   the kernel would check the source cgroup against (a cgroup namespace is entered after it).
// Where the second is closed, the first process writes cgroup.procs itself (the lock, but still
// before any namespace). Without root (rootless cgroups) the runtime joins the process as before.
import path = require('node:path');
import { HuskError } from '../errors';
import type { HostFacts } from '../host/probe';
import { op, type Op } from './ops';

// Whether the new process enters its cgroups itself: as root, with cgroups that are not
// rootless ones (delegated to the caller) or systemd's (the unit is made with the process in it).
export function joinsItself(host: HostFacts, rootless: boolean, systemd: boolean): boolean {
  return host.euid === 0 && !rootless && !systemd;
}

export interface CgroupJoinInput {
  v1Dirs: string[];
  unifiedDir: string | null;
  // The fork may make the process in its cgroup2 directory (see above).
  forkInto: boolean;
}

export interface CgroupJoin {
  // Right after the cgroup stage, before any namespace: the joins, and the opening of the
  // cgroup2 directory FORK_INIT makes the process in (a host path: before any setns of a mount
  // namespace).
  first: Op[];
  into: boolean; // the process is made in its cgroup2 directory: a cgroup namespace comes after
  procs: boolean; // cgroup.procs is written: the attach lock is taken (see primeCgroupAttach)
}

const FROM = '/linux/cgroupsPath';

export function planCgroupJoin(input: CgroupJoinInput): CgroupJoin {
  const first = input.v1Dirs.map((dir) =>
    op('JOIN_CGROUP', FROM, { dir }, { file: path.join(dir, 'tasks') }),
  );
  const dir = input.unifiedDir;
  if (!dir) return { first, into: false, procs: false };
  if (input.forkInto) {
    first.push(op('CGROUP_INTO', FROM, { dir }, { dir }));
    return { first, into: true, procs: false };
  }
  first.push(op('JOIN_CGROUP', FROM, { dir }, { file: path.join(dir, 'cgroup.procs') }));
  return { first, into: false, procs: true };
}

// The container's cgroup directories split by hierarchy kind, from what the host mounts.
export function splitCgroupDirs(
  dirs: string[],
  unifiedMount: string | null,
): Omit<CgroupJoinInput, 'forkInto'> {
  const isUnified = (d: string) => !!unifiedMount && (d === unifiedMount || d.startsWith(unifiedMount + '/'));
  return { v1Dirs: dirs.filter((d) => !isUnified(d)), unifiedDir: dirs.find(isUnified) ?? null };
}

// exec --cgroup [ctrl[,ctrl]:]path (repeatable), as runc: the process joins a sub-cgroup of the
// container's instead of its own. Without a controller (given once) the path is the same below
// every directory; with controllers, only those hierarchies' directories change (cgroup v2 has
// no controller names here: its one directory is changed by the plain form). The sub-cgroup must
// exist and stay inside the container's cgroup.
export function execCgroupDirs(dirs: string[], args: string[], host: HostFacts): string[] {
  if (!args.length) return dirs;
  const subs = new Map<string, string>();
  for (const a of args) {
    const parts = a.split(':');
    if (parts.length > 2)
      throw new HuskError(
        `--cgroup ${a}: invalid --cgroup argument (expected [controller[,controller]:]path)`,
      );
    if (parts.length === 1) {
      if (args.length !== 1)
        throw new HuskError(`--cgroup ${a}: invalid --cgroup argument (missing <controller>: prefix)`);
      subs.set('', a);
    } else for (const c of parts[0].split(',')) subs.set(c, parts[1]);
  }
  const below = (dir: string, sub: string) => {
    const p = path.posix.join(dir, sub).replace(/\/+$/, '');
    if (p !== dir && !p.startsWith(dir + '/'))
      throw new HuskError(`--cgroup: ${sub} is not a sub cgroup path`);
    return p;
  };
  const all = subs.get('');
  if (all !== undefined) return dirs.map((d) => below(d, all));
  const out = [...dirs];
  for (const [ctrl, sub] of subs) {
    const h = host.v1.find((x) => x.controllers.includes(ctrl) || x.controllers.includes(`name=${ctrl}`));
    const i = h ? out.findIndex((d) => d.startsWith(h.mountpoint + '/')) : -1;
    if (i < 0) throw new HuskError(`--cgroup: unknown controller ${ctrl}`);
    out[i] = below(dirs[i], sub);
  }
  return out;
}
