// Doing what the cgroup plan says: make the directories, join the init, write the limits
// (cgroupfs-teardown.ts empties and removes them). Every failure names the file, value and errno.
import fs = require('node:fs');
import { cgroupOf, readTrimmed, type HostFacts } from '../../host/probe';
import path = require('node:path');
import { HuskError } from '../../errors';
import type { CgroupPlan, CgroupWrite } from '../../plan/cgroups';
import { native } from '../../native';
import { removeDirs } from './cgroupfs-teardown';

function isCpuset(dir: string): boolean {
  return /\/cpuset(,[^/]*)?\//.test(dir + '/');
}

// mkdir first, the parent only when it is missing: most of the time the parent is there and one
// syscall does. `unified` says whether the directory is on cgroup2, where a child gets only the
// controllers its parent passes down (v1 has nothing to pass).
function makeDir(dir: string, made: string[], unified: boolean, retries = 3): void {
  const parent = path.dirname(dir);
  try {
    fs.mkdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    // The parent is missing, or was removed by a delete of the last container under it: make it
    // (again), then this one.
    if (code === 'ENOENT' && retries > 0) {
      makeDir(parent, made, unified);
      return makeDir(dir, made, unified, retries - 1);
    }
    throw new HuskError(`create cgroup ${dir}: ${(e as Error).message}`);
  }
  made.push(dir);
  try {
    if (unified) enableControllers(parent);
    if (isCpuset(dir)) initCpuset(dir);
  } catch (e) {
    // A delete of the last container under a parent removes it (removeEmptyHuskParents), also
    // one this create has just made and not yet put a child in: its files then answer ENODEV
    // (or are gone). Make it again.
    const code = (e as NodeJS.ErrnoException).code;
    if ((code === 'ENODEV' || code === 'ENOENT') && retries > 0)
      return makeDir(dir, made, unified, retries - 1);
    throw e;
  }
}

// A new v1 cpuset directory starts with no cpus or mems, and nothing can join it until they are
// copied from its parent; a parent another create made a moment ago may still be empty too.
// In husk's own parent (/husk) cgroup.clone_children is set, so that the kernel copies them into
// the next containers' directories as it makes them: the copy here costs ~0.2 ms a container.
function initCpuset(dir: string): void {
  const parent = path.dirname(dir);
  if (!fs.existsSync(path.join(parent, 'cpuset.cpus'))) return;
  let copied = false;
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    if (fs.readFileSync(path.join(dir, f), 'utf8').trim() !== '') continue;
    let value = fs.readFileSync(path.join(parent, f), 'utf8').trim();
    if (value === '') {
      initCpuset(parent);
      value = fs.readFileSync(path.join(parent, f), 'utf8').trim();
    }
    fs.writeFileSync(path.join(dir, f), value);
    copied = true;
  }
  if (copied && path.basename(parent) === 'husk') {
    try {
      fs.writeFileSync(path.join(parent, 'cgroup.clone_children'), '1');
    } catch {
      /* only a shortcut for the next container */
    }
  }
}

// cgroup v2: a child gets only the controllers its parent passes down in
// cgroup.subtree_control; pass down every one the parent has, as runc does.
function enableControllers(parent: string): void {
  // v1 has no such file (read as '').
  const available = readTrimmed(path.join(parent, 'cgroup.controllers')).split(/\s+/).filter(Boolean);
  if (!available.length) return;
  // Most of the time the parent passes them all down already (it is kept between containers).
  const enabled = new Set(readTrimmed(path.join(parent, 'cgroup.subtree_control')).split(/\s+/));
  const missing = available.filter((c) => !enabled.has(c));
  if (!missing.length) return;
  // Never the hierarchy's root: that is the host's configuration, not ours to change.
  if (fs.statSync(parent).dev !== fs.statSync(path.dirname(parent)).dev) return;
  for (const c of missing) {
    try {
      fs.writeFileSync(path.join(parent, 'cgroup.subtree_control'), `+${c}`);
    } catch {
      /* e.g. a controller the parent may not delegate: its limits fail later, naming the file */
    }
  }
}

// Rootless: the caller may join an existing cgroup whose cgroup.procs it can write, and make a
// new one below the nearest existing directory it can write (a cgroup delegated to it).
export function callerCanUseCgroup(dir: string): boolean {
  let p = dir;
  const target = fs.existsSync(p) ? path.join(p, 'cgroup.procs') : null;
  while (!target && !fs.existsSync(p)) p = path.dirname(p);
  try {
    fs.accessSync(target ?? p, target ? fs.constants.W_OK : fs.constants.W_OK | fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// The directories createCgroups would make now: what the container owns and delete removes
// (a cgroupsPath that existed before is the caller's, not ours to remove).
export function missingDirs(plan: CgroupPlan): string[] {
  const out: string[] = [];
  for (const d of plan.dirs) {
    for (let p = d; !fs.existsSync(p) && !out.includes(p); p = path.dirname(p)) out.push(p);
  }
  return out;
}

// The controllers the plan needs, enabled top-down in each existing directory above the
// container's (one the create makes gets them passed down by makeDir). A write that fails is
// left: the limit's own write then fails naming its file, and this errno is in that message.
export function enableSubtree(plan: CgroupPlan): void {
  for (const { dir, controllers } of plan.enable) {
    let enabled: Set<string>;
    try {
      enabled = new Set(fs.readFileSync(path.join(dir, 'cgroup.subtree_control'), 'utf8').split(/\s+/));
    } catch {
      return; // not there yet: makeDir passes everything down from here on
    }
    for (const c of controllers) {
      if (enabled.has(c)) continue;
      try {
        fs.writeFileSync(path.join(dir, 'cgroup.subtree_control'), `+${c}`);
      } catch (e) {
        enableFailures.set(
          c,
          `enable ${c} in ${path.join(dir, 'cgroup.subtree_control')}: ${(e as Error).message}`,
        );
      }
    }
  }
}
// Why a controller could not be enabled (by controller), for the message of the write it fails.
const enableFailures = new Map<string, string>();

export function createCgroups(plan: CgroupPlan): string[] {
  const made: string[] = [];
  enableSubtree(plan);
  try {
    const onUnified = (d: string) =>
      !!plan.unifiedDir && (d === plan.unifiedDir || plan.unifiedDir.startsWith(d + '/'));
    for (const d of plan.dirs) makeDir(d, made, onUnified(d));
  } catch (e) {
    removeDirs(made);
    throw e;
  }
  return made;
}

// Node takes numeric open flags too (its types say string).
const WRITE_EXISTING = (fs.constants.O_WRONLY | fs.constants.O_TRUNC) as unknown as string;

export function applyWrites(writes: CgroupWrite[]): void {
  // Files without an alternative name go in one native call; from the first that fails (or has
  // an alternative) on, one at a time here, which names the cause.
  let from = 0;
  while (from < writes.length && !writes[from].alt) from++;
  if (from > 0) {
    const head = writes.slice(0, from);
    const errs = native().writeFiles(
      head.map((w) => path.join(w.dir, w.file)),
      head.map((w) => w.value),
    );
    const failed = errs.findIndex((e) => e !== 0);
    if (failed >= 0) from = failed;
  }
  writeEach(writes.slice(from));
}

function writeEach(writes: CgroupWrite[]): void {
  for (const w of writes) {
    let file = path.join(w.dir, w.file);
    if (w.alt && !fs.existsSync(file)) file = path.join(w.dir, w.alt);
    try {
      // No O_CREAT: a file the host lacks is ENOENT (cgroupfs would answer EACCES, hiding the
      // cause), so no existence check is needed before the write.
      fs.writeFileSync(file, w.value, { flag: WRITE_EXISTING });
    } catch (e) {
      if (!fs.existsSync(file)) {
        const why = enableFailures.get(path.basename(file).split('.')[0]);
        throw new HuskError(
          `${w.from}: this host has no ${path.basename(file)} in ${w.dir}${why ? ` (${why})` : ''}`,
        );
      }
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'this host has no such cgroup file' : (e as Error).message;
      throw new HuskError(`${w.from}: write ${JSON.stringify(w.value)} to ${file}: ${why}`);
    }
  }
}

// cgroup v2's device rules: an eBPF program on the container's directory, before any of its
// processes joins.
export function attachDevices(plan: CgroupPlan): void {
  if (!plan.devicesProgram || !plan.unifiedDir) return;
  try {
    native().attachDeviceProgram(plan.unifiedDir, plan.devicesProgram);
  } catch (e) {
    throw new HuskError(`/linux/resources/devices: ${(e as Error).message}`);
  }
}

// Moving a process into a cgroup takes a kernel lock whose first writer waits for an RCU grace
// period (~4 ms here), while writers that follow within the next grace period do not wait. A
// no-op move of ourselves into our own cgroup, on a thread of the pool while the config is
// validated and planned, pays that wait in parallel, so the init's own join is quick.
export function primeCgroupAttach(host: HostFacts): void {
  if (host.euid !== 0) return;
  const first = host.v1.find((h) => !h.controllers.some((c) => c.startsWith('name=')));
  const self = cgroupOf('self', first ? first.controllers.join(',') : '');
  const mount = first?.mountpoint ?? host.unified;
  if (!mount || self === undefined) return;
  // Only a head start: a failure costs nothing but the time.
  void native().writeInBackground(path.join(mount, self, 'cgroup.procs'), String(process.pid));
}

export function joinCgroups(dirs: string[], pid: number): void {
  for (const d of dirs) {
    try {
      fs.writeFileSync(path.join(d, 'cgroup.procs'), String(pid));
    } catch (e) {
      throw new HuskError(`/linux/cgroupsPath: join ${d}: ${(e as Error).message}`);
    }
  }
}

// The value to write back over `w` to undo it: the file's earlier content, or for a file keyed by
// device (throttles, io.max, weight_device) that device's earlier line, or the line that clears
// it when it had none. null when there is nothing sensible to write back.
function undoValue(w: CgroupWrite, before: string): string | null {
  const key = /^(\d+:\d+) /.exec(w.value)?.[1];
  if (!key) return before.includes('\n') ? null : before;
  const line = before.split('\n').find((l) => l.startsWith(key + ' '));
  if (line) return line;
  if (w.file === 'io.max') return `${key} rbps=max wbps=max riops=max wiops=max`;
  return w.file.startsWith('blkio.throttle.') ? `${key} 0` : null;
}

// update's writes, all or nothing: each file's earlier value is read first, and when a write
// fails the ones before it are written back, newest first (each step back is a state the kernel
// took before). The error names the file that failed, as applyWrites's do.
export function applyWritesOrRestore(writes: CgroupWrite[]): void {
  const done: { w: CgroupWrite; file: string; undo: string | null }[] = [];
  for (const w of writes) {
    let file = path.join(w.dir, w.file);
    if (w.alt && !fs.existsSync(file)) file = path.join(w.dir, w.alt);
    let before: string | null = null;
    try {
      before = fs.readFileSync(file, 'utf8').trim();
    } catch {
      /* writeEach names a missing file */
    }
    try {
      writeEach([w]);
    } catch (e) {
      const failed: string[] = [];
      for (const d of done.reverse()) {
        if (d.undo === null) continue;
        try {
          fs.writeFileSync(d.file, d.undo, { flag: WRITE_EXISTING });
        } catch {
          failed.push(d.file);
        }
      }
      const note = failed.length
        ? ` (and ${failed.join(', ')} could not be written back)`
        : done.length
          ? '; the values written before it were restored'
          : '';
      throw new HuskError(`${(e as Error).message}${note}`);
    }
    done.push({ w, file, undo: before === null ? null : undoValue(w, before) });
  }
}
