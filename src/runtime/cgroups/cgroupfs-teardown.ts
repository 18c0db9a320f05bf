// On delete (and a create that gives up): kill what is left in the container's cgroups, remove
// the directories it made deepest first, and husk's own /husk parents once empty.
import fs = require('node:fs');
import path = require('node:path');
import type { HostFacts } from '../../host/probe';
import { HuskError } from '../../errors';
import { native } from '../../native';
import { sleep } from '../sleep';

// The cgroups a container's process made below its own (a process with a writable cgroup mount
// may mkdir and move itself), deepest first; none when the directory is gone.
export function subCgroups(dir: string): string[] {
  const out: string[] = [];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries)
    if (e.isDirectory()) {
      const sub = path.join(dir, e.name);
      out.push(...subCgroups(sub), sub);
    }
  return out;
}

// Every process in the directories and their sub-cgroups, as runc's ps and kill --all see them.
export function cgroupPids(dirs: string[]): number[] {
  const pids = new Set<number>();
  for (const d of dirs) {
    for (const c of [d, ...subCgroups(d)]) {
      try {
        for (const l of fs.readFileSync(path.join(c, 'cgroup.procs'), 'utf8').split('\n'))
          if (l) pids.add(Number(l));
      } catch {
        /* gone already */
      }
    }
  }
  return [...pids];
}

// Removes directories deepest first, waiting briefly for killed tasks to leave them; our own
// parent directories (e.g. /husk) go too once empty, as they were made for us.
export function removeDirs(dirs: string[], own: string[] = dirs): void {
  // The sub-cgroups the container's processes made go first, bottom-up (also below a directory
  // the container did not make and that stays).
  const withSubs = [...own.flatMap(subCgroups), ...dirs];
  const sorted = [...new Set(withSubs)].sort((a, b) => b.length - a.length);
  for (const d of sorted) {
    // A parent may hold other containers (v1 answers EBUSY for that, v2 ENOTEMPTY): it stays.
    // Only the container's own directories are waited for while killed tasks leave them.
    const tries = own.some((o) => d === o || d.startsWith(o + '/')) ? 200 : 1;
    for (let i = 0; i < tries; i++) {
      try {
        fs.rmdirSync(d);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTEMPTY' || (code === 'EBUSY' && tries === 1)) break;
        if (code !== 'EBUSY' || i === tries - 1)
          throw new HuskError(`remove cgroup ${d}: ${(e as Error).message}`);
        sleep(5);
      }
    }
  }
}

const ENOENT = 2; // Linux

// A cgroup that can be removed holds no process: when every directory is the container's own and
// one rmdir each (deepest first) removes them, there is nothing to kill (the usual case after the
// init exited). The order of those rmdirs, or null when some directory is not the container's.
function rmdirOrder(dirs: string[], made: string[]): string[] | null {
  if (!dirs.every((d) => made.includes(d))) return null;
  return [...made].sort((a, b) => b.length - a.length);
}

// Whether the rmdirs (their errnos, in rmdirOrder) removed the container's own directories;
// parents in use by other containers stay.
function allRemoved(sorted: string[], errnos: number[], own: string[]): boolean {
  return !sorted.some((d, i) => errnos[i] !== 0 && errnos[i] !== ENOENT && own.includes(d));
}

function rmdirErrno(dir: string): number {
  try {
    fs.rmdirSync(dir);
    return 0;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? ENOENT : -1;
  }
}

// After the rmdirs: what still holds a process is killed and removed once the killed have left;
// then husk's own parents, unless kept.
function finishDestroy(dirs: string[], made: string[], keepParents: boolean, emptied: boolean): void {
  if (!emptied) {
    killAll(dirs);
    removeDirs(made, dirs);
  }
  if (!keepParents) removeEmptyHuskParents(dirs);
}

// destroyCgroups with the rmdirs on the thread pool, so the caller can do other work meanwhile
// (run's delete removes the container's state files).
export async function destroyCgroupsInBackground(
  dirs: string[],
  made: string[] = dirs,
  keepParents = false,
): Promise<void> {
  const sorted = rmdirOrder(dirs, made);
  const emptied = !!sorted && allRemoved(sorted, await native().rmdirsInBackground(sorted), dirs);
  finishDestroy(dirs, made, keepParents, emptied);
}

// husk's own parent of default cgroup paths (/husk in every hierarchy) goes when it is empty.
function removeEmptyHuskParents(dirs: string[]): void {
  for (const d of dirs) {
    const parent = path.dirname(d);
    // Often removed just before, as a directory this container made: no throw for that.
    if (path.basename(parent) !== 'husk' || !fs.existsSync(parent)) continue;
    try {
      fs.rmdirSync(parent);
    } catch {
      /* other containers still below it, or gone already */
    }
  }
}

// SIGKILLs every process in the directories until none is left (or half a second passed).
export function killAll(dirs: string[]): void {
  for (let round = 0; round < 100; round++) {
    const pids = cgroupPids(dirs);
    if (!pids.length) break;
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    sleep(5);
  }
}

// Removes the directories husk made, killing what is left in the container's cgroups first.
// keepParents: a long-lived process (the husk server) keeps /husk for the next container; see
// removeHuskParentsIfEmpty.
export function destroyCgroups(dirs: string[], made: string[] = dirs, keepParents = false): void {
  const sorted = rmdirOrder(dirs, made);
  const emptied = !!sorted && allRemoved(sorted, sorted.map(rmdirErrno), dirs);
  finishDestroy(dirs, made, keepParents, emptied);
}

// husk's own parent of default cgroup paths, /husk right under a hierarchy's root: the one
// directory a long-lived process keeps between containers (keepCgroupParents) and removes when
// it exits. Any other missing ancestor a create makes is the container's, removed at delete.
export function isHuskParent(dir: string, host: HostFacts): boolean {
  return path.basename(dir) === 'husk' && hierarchyRoots(host).includes(path.dirname(dir));
}

// Where each cgroup hierarchy is mounted (v1 controllers, and cgroup2 if there is one).
function hierarchyRoots(host: HostFacts): string[] {
  return [...host.v1.map((h) => h.mountpoint), ...(host.unified ? [host.unified] : [])];
}

// What a process that kept /husk between containers removes when it exits (if no container is
// left below it).
let removeAtExit = false;
export function removeHuskParentsAtExit(host: HostFacts): void {
  if (removeAtExit) return;
  removeAtExit = true;
  process.once('exit', () => removeHuskParentsIfEmpty(host));
}

function removeHuskParentsIfEmpty(host: HostFacts): void {
  for (const m of hierarchyRoots(host)) {
    try {
      fs.rmdirSync(path.join(m, 'husk'));
    } catch {
      /* containers below it, or none made */
    }
  }
}
