// start, kill, delete, state and list over the state store.
import fs = require('node:fs');
import path = require('node:path');
import { HuskError } from '../errors';
import { sleep } from './sleep';
import { native } from '../native';
import type { State, Status } from '../spec/types';
import { checkId } from '../state/id';
import { initAlive, statusOf, zombieComm } from '../state/status';
import { unlinkIfThere, type ContainerRecord, type Lock } from '../state/store';
import { cgroupPids, destroyCgroups, destroyCgroupsInBackground, killAll, stopUnit, thaw } from './cgroups';
import type { RuntimeContext } from './context';
import { runHooksWarn } from './hooks';
import { planCgroups } from '../plan/cgroups';
import { probeHost } from '../host/probe';
import { parseSignal } from './signals';
import { detachHostRootfs } from './host-rootfs';
import type { Spec } from '../spec/types';

export interface Loaded {
  rec: ContainerRecord;
  status: Status;
  dir: string;
}

export function load(ctx: RuntimeContext, id: string): Loaded {
  const dir = ctx.store.dir(id);
  const rec = ctx.store.read(id);
  if (!rec) {
    if (ctx.store.exists(id))
      throw new HuskError(
        `container ${id} is being created or its state is lost (delete --force removes it)`,
      );
    throw new HuskError(`container ${id} does not exist`);
  }
  const status = rec.pid === 0 ? (ctx.store.beingCreated(id) ? 'creating' : 'stopped') : statusOf(rec, dir);
  return { rec, status, dir };
}

export function ociState(rec: ContainerRecord, status: Status): State {
  return {
    ociVersion: rec.ociVersion,
    id: rec.id,
    status,
    pid: status === 'stopped' ? 0 : rec.pid,
    bundle: rec.bundle,
    ...(rec.annotations ? { annotations: rec.annotations } : {}),
  };
}

export function state(ctx: RuntimeContext, id: string): State & Record<string, unknown> {
  const { rec, status } = load(ctx, id);
  return {
    ociVersion: rec.ociVersion,
    id: rec.id,
    pid: status === 'stopped' ? 0 : rec.pid,
    status,
    bundle: rec.bundle,
    rootfs: rec.rootfs,
    created: rec.created,
    owner: rec.owner,
    ...(rec.annotations ? { annotations: rec.annotations } : {}),
  };
}

// husk-init names itself so (PR_SET_NAME); exec gives the program's name.
const INIT_COMM = 'husk-init';

// Until the init says its startContainer hooks passed (a second byte in the exec fifo, `fifo`
// our fd of it), or /proc/<pid>/exe is no longer husk-init (it exec'd), or the init is gone.
function awaitProgram(rec: ContainerRecord, spec: Spec, fifo: number): void {
  const limit = (spec.hooks?.startContainer ?? []).reduce((n, h) => n + (h.timeout ?? 30), 0) * 1000 + 5000;
  const until = Date.now() + limit;
  const passed = () => native().fifoBytes(fifo) >= 2;
  while (Date.now() < until) {
    if (passed()) return;
    if (!initAlive(rec)) {
      if (passed()) return;
      // Gone without saying its hooks passed: one failed. Unreaped, a comm that is no longer
      // husk-init's says it exec'd after all (a seccomp filter denied the init's word); reaped
      // (systemd, an engine's subreaper), only the fifo could have told.
      const comm = zombieComm(rec);
      if (comm !== null && comm !== INIT_COMM) return;
      throw new HuskError(
        "a startContainer hook failed: the container stopped (its stderr has the hook's error)",
      );
    }
    let exe = '';
    try {
      exe = fs.readlinkSync(`/proc/${rec.pid}/exe`);
    } catch {
      /* exiting */
    }
    if (exe && !exe.startsWith('/memfd:husk-init')) return;
    sleep(2);
  }
  throw new HuskError('startContainer hooks did not finish within their timeouts');
}

// `spec`: the config the caller created the container from (run), instead of reading it again.
export function start(ctx: RuntimeContext, id: string, spec?: Spec): void {
  const lock = ctx.store.lock(id);
  try {
    const { rec, status, dir } = load(ctx, id);
    if (status !== 'created')
      throw new HuskError(`cannot start a container that is ${status}, only a created one`);
    const fifo = path.join(dir, 'exec.fifo');
    const held = native().releaseFifo(fifo);
    try {
      unlinkIfThere(fifo);
      ctx.log.debug(`${id}: started (init pid ${rec.pid})`);
      spec ??= ctx.store.readConfig(id) ?? undefined;
      // startContainer hooks run in the init after this point; their failure stops the
      // container and must fail `start` (the spec), so start waits for their outcome.
      if (spec?.hooks?.startContainer?.length) awaitProgram(rec, spec, held);
    } finally {
      fs.closeSync(held);
    }
    if (spec?.hooks?.poststart?.length)
      runHooksWarn(spec.hooks, 'poststart', ociState(rec, 'running'), ctx.log);
  } finally {
    lock.release();
  }
}

function signalAll(rec: ContainerRecord, sig: number): void {
  for (const pid of cgroupPids(rec.cgroupDirs)) {
    try {
      process.kill(pid, sig);
    } catch {
      /* exited meanwhile */
    }
  }
}

export function kill(ctx: RuntimeContext, id: string, signal?: string | number, all = false): void {
  const sig = parseSignal(signal);
  const { rec, status } = load(ctx, id);
  if (status === 'stopped' || status === 'creating') {
    // As runc: --all signals whatever is left in the cgroup, which may be nothing.
    if (all && status === 'stopped') return signalAll(rec, sig);
    // containerd's shim takes an error containing "container not running" (runc's words) as
    // "already gone"; any other text fails StopContainer and StopPodSandbox.
    throw new HuskError(`container not running: ${id} is ${status}`);
  }
  ctx.log.debug(`${id}: signal ${sig} to ${all ? 'every process' : `init pid ${rec.pid}`}`);
  if (all && rec.cgroupDirs.length) return signalAll(rec, sig);
  try {
    process.kill(rec.pid, sig);
  } catch (e) {
    throw new HuskError(`kill container ${id} (pid ${rec.pid}): ${(e as Error).message}`);
  }
}

// Waits for the init to die after SIGKILL; reaps it if it is our own child (in-process use).
function waitGone(rec: ContainerRecord, timeoutMs = 10_000): void {
  const until = Date.now() + timeoutMs;
  while (initAlive(rec) && Date.now() < until) {
    native().reap(rec.pid, false);
    sleep(2);
  }
  native().reap(rec.pid, false);
}

export function destroy(ctx: RuntimeContext, id: string, force = false, known?: Spec): void {
  if (!ctx.store.exists(id)) {
    // containerd and docker call `delete --force` after every `delete`; runc says nothing then.
    checkId(id);
    if (force) return;
    throw new HuskError(`container ${id} does not exist`);
  }
  let lock;
  try {
    lock = ctx.store.lock(id);
  } catch (e) {
    // Removed by a delete that raced us: gone is what --force wanted.
    if (force && !ctx.store.exists(id)) return;
    throw e;
  }
  try {
    // Deleted (and maybe made anew) while we waited for the lock: nothing of ours to delete.
    if (!lock.sameAs(ctx.store.dir(id))) {
      if (force) return;
      throw new HuskError(`container ${id} does not exist`);
    }
    let rec: ContainerRecord | null;
    try {
      rec = ctx.store.read(id);
    } catch (e) {
      // A state that cannot be read (or is a symlink, never followed) is removed only by force.
      if (!force) throw e;
      rec = null;
    }
    if (rec) {
      const status = rec.pid === 0 ? 'stopped' : statusOf(rec, ctx.store.dir(id));
      if ((status === 'running' || status === 'paused') && !force)
        throw new HuskError(`cannot delete container ${id} that is not stopped: ${status} (use --force)`);
      if (rec.pid > 0 && status !== 'stopped') {
        try {
          process.kill(rec.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
        if (status === 'paused') thaw(rec.freezerDir);
        waitGone(rec);
      }
      if (rec.systemd) {
        // Killed first: systemd's stop would send SIGTERM and wait up to its stop timeout.
        killAll(rec.cgroupDirs);
        try {
          stopUnit(rec.systemd);
        } catch (e) {
          // The directories go below all the same, and the unit with them once it is empty.
          ctx.log.warn((e as Error).message);
        }
      }
      destroyCgroups(rec.cgroupDirs, rec.cgroupMade ?? rec.cgroupDirs, ctx.keepCgroupParents);
      detachHostRootfs(rec.hostRootfsMount);
      ctx.log.debug(`${id}: deleted (was ${status}; cgroups removed: ${rec.cgroupDirs.length})`);
      const spec = known ?? ctx.store.readConfig(id);
      // poststop runs for containers that got as far as having a process.
      if (rec.pid > 0 && spec?.hooks?.poststop?.length)
        runHooksWarn(spec.hooks, 'poststop', ociState(rec, 'stopped'), ctx.log);
    } else {
      // No readable record: the container's cgroups are where its config (or the default)
      // put them; a forced delete must not leave them, nor their processes.
      const spec = ctx.store.readConfig(id) ?? ({} as Spec);
      let dirs: string[] = [];
      try {
        dirs = planCgroups(spec, probeHost(), id)?.dirs ?? [];
      } catch {
        dirs = planCgroups({} as Spec, probeHost(), id)?.dirs ?? [];
      }
      destroyCgroups(dirs.filter((d) => fs.existsSync(d)));
    }
    ctx.store.remove(id, lock);
  } finally {
    lock.release();
  }
}

// run's delete of its own container once its process has exited: destroy, with the cgroups
// removed on the thread pool while the state files go (the state directory, which holds the id,
// goes last). `rec` is the record create returned, whose init run has waited for: while the
// directory is still the one create made, that record is the one on disk (nothing rewrites it
// after create) and its init is gone, so neither is read again. Anything else than a container
// with cgroupfs cgroups and no poststop hook takes destroy's way.
export async function destroyExited(
  ctx: RuntimeContext,
  id: string,
  spec: Spec,
  rec: ContainerRecord,
): Promise<void> {
  const dir = ctx.store.dir(id);
  let lock: Lock | null = null;
  if (!spec.hooks?.poststop?.length && !rec.systemd && !rec.hostRootfsMount) {
    try {
      lock = ctx.store.lock(id);
    } catch {
      /* destroy's way, which says why */
    }
  }
  if (lock) {
    let removed = false;
    try {
      if (lock.sameAs(dir)) {
        const made = rec.cgroupMade ?? rec.cgroupDirs;
        const cgroups = destroyCgroupsInBackground(rec.cgroupDirs, made, ctx.keepCgroupParents);
        try {
          ctx.store.removeFiles(id);
        } finally {
          await cgroups;
        }
        ctx.store.remove(id, lock);
        removed = true;
        return;
      }
    } finally {
      lock.release(removed);
    }
  }
  destroy(ctx, id, true, spec);
}

export function list(ctx: RuntimeContext): (State & Record<string, unknown>)[] {
  const out: (State & Record<string, unknown>)[] = [];
  for (const id of ctx.store.ids()) {
    try {
      out.push(state(ctx, id));
    } catch {
      // A container deleted while we listed, or one still being created: skip it.
    }
  }
  return out;
}
