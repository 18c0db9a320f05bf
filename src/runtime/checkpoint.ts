// checkpoint: criu dumps a running container's process tree into --image-path (pre-dump: its
// memory only, for a later dump with --parent-path). Without --leave-running (or with a
// pre-dump) the container is gone afterwards, and husk deletes it as runc does.
import fs = require('node:fs');
import path = require('node:path');
import { HuskError } from '../errors';
import { probeHost } from '../host/probe';
import {
  cgroupBinds,
  commonOpts,
  dumpExternalNamespaces,
  dumpMounts,
  FIRST_EXTRA_FD,
  readDescriptors,
  type CriuFlags,
} from '../criu/policy';
import { REQ, type CriuReq } from '../criu/rpc';
import { criuVersion, swrk } from '../criu/swrk';
import type { RuntimeContext } from './context';
import { destroy, load } from './lifecycle';

export interface CheckpointOptions extends CriuFlags {
  parentPath?: string;
  leaveRunning?: boolean;
  preDump?: boolean;
  pageServer?: string;
}

export const DESCRIPTORS = 'descriptors.json';

function openDir(dir: string, flag: string): number {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return fs.openSync(dir, 'r');
  } catch (e) {
    throw new HuskError(`${flag} ${dir}: ${(e as Error).message}`);
  }
}

function pageServer(addr: string): { address: string; port: number } {
  const i = addr.lastIndexOf(':');
  const port = Number(addr.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535)
    throw new HuskError(`--page-server ${addr}: expected ADDRESS:PORT`);
  return { address: addr.slice(0, i), port };
}

// criu reads --parent-path relative to the images directory; runc refuses an absolute one rather
// than guess, and one that is not a directory there before criu runs.
function parentImages(imagePath: string, parentPath: string): string {
  if (path.isAbsolute(parentPath))
    throw new HuskError(`--parent-path ${parentPath}: must be relative to --image-path (e.g. ../parent)`);
  const real = path.join(imagePath, parentPath);
  let dir = false;
  try {
    dir = fs.statSync(real).isDirectory();
  } catch (e) {
    throw new HuskError(
      `invalid --parent-path ${parentPath}: ${real}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  if (!dir) throw new HuskError(`invalid --parent-path ${parentPath}: ${real} is not a directory`);
  return parentPath;
}

// --status-fd names an fd of the caller's that must be open for writing (runc's check): the
// lazy-pages server's readiness is told there as one NUL byte.
function statusFdOf(fd: number): number {
  let flags = NaN;
  try {
    const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    flags = parseInt(/^flags:\s*([0-7]+)/m.exec(info)?.[1] ?? '', 8);
  } catch {
    throw new HuskError(`--status-fd ${fd}: not an open file descriptor`);
  }
  if (!((flags & 3) === 1 || (flags & 3) === 2))
    throw new HuskError(`--status-fd ${fd}: not open for writing`);
  return fd;
}

// Lazy migration needs userfaultfd from the kernel and criu built with it: criu says which.
async function checkLazyPages(criu: string, version: string): Promise<void> {
  const resp = await swrk({
    criu,
    req: { type: REQ.FEATURE_CHECK, features: { lazy_pages: true } },
    what: 'feature check',
  });
  if (!resp.features?.lazy_pages)
    throw new HuskError(
      `--lazy-pages: criu ${version} at ${criu} cannot migrate lazily on this host (\`criu check --feature uffd-noncoop\` says why)`,
    );
}

// criu freezes the tree through the container's freezer cgroup, as runc has it, rather than
// stopping each task with ptrace: a paused container's tasks (containerd pauses the task before
// every checkpoint) never stop for ptrace, and criu leaves a frozen cgroup frozen after a dump
// with --leave-running, where its caller thaws it. The v2 freezer needs criu 3.14.
export function freezeCgroup(freezerFile: string | null, criuVersionNumber: number): string | undefined {
  if (!freezerFile) return undefined;
  if (freezerFile.endsWith('cgroup.freeze') && criuVersionNumber < 31400) return undefined;
  return path.dirname(freezerFile);
}

export async function checkpoint(ctx: RuntimeContext, id: string, o: CheckpointOptions): Promise<void> {
  const { rec, status } = load(ctx, id);
  if (status !== 'running' && status !== 'paused')
    throw new HuskError(
      `container ${id} is ${status}: only a running or paused container can be checkpointed`,
    );
  const spec = ctx.store.readConfig(id);
  if (!spec) throw new HuskError(`container ${id}: its config snapshot is missing`);
  const imagePath = path.resolve(o.imagePath);
  const parent = o.parentPath ? parentImages(imagePath, o.parentPath) : undefined;
  const version = await criuVersion(o.criu);
  const workPath = path.resolve(o.workPath);
  const logFile = 'dump.log'; // runc's name, for pre-dumps too
  const ps = o.pageServer ? pageServer(o.pageServer) : undefined;
  const external = dumpExternalNamespaces(spec);
  if (o.lazyPages) await checkLazyPages(o.criu, version.text);
  // runc reads --status-fd only with --lazy-pages. criu 3.15 and later say "status-ready" as a
  // notification, and husk writes the byte itself; an older criu is given the fd to write to.
  const statusFd =
    o.lazyPages && o.statusFd !== undefined && o.statusFd >= 0 ? statusFdOf(o.statusFd) : undefined;
  const criuWritesStatus = statusFd !== undefined && version.number < 31500;
  let ready = criuWritesStatus ? undefined : statusFd; // ours to write, once
  const images = openDir(imagePath, '--image-path');
  let work = -1;
  try {
    work = openDir(workPath, '--work-path');
    const root = fs.realpathSync(rec.rootfs);
    const opts = {
      ...commonOpts(o, spec, logFile, { images, work }),
      pid: rec.pid,
      root,
      ext_mnt: dumpMounts(spec, rec.pid, root, cgroupBinds(spec, probeHost().cgroupMode === 'v2')),
      external,
    };
    const freezer = freezeCgroup(rec.freezerDir, version.number);
    if (freezer) opts.freeze_cgroup = freezer;
    if (o.leaveRunning) opts.leave_running = true;
    if (parent) {
      opts.parent_img = parent;
      opts.track_mem = true;
    }
    if (o.preDump) opts.track_mem = true;
    if (ps) opts.ps = ps;
    if (criuWritesStatus) opts.status_fd = FIRST_EXTRA_FD;
    const req: CriuReq = { type: o.preDump ? REQ.PRE_DUMP : REQ.DUMP, opts };
    if (!o.preDump) {
      try {
        fs.writeFileSync(path.join(imagePath, DESCRIPTORS), JSON.stringify(readDescriptors(rec.pid)), {
          mode: 0o600,
        });
      } catch (e) {
        throw new HuskError(`--image-path ${imagePath}: write ${DESCRIPTORS}: ${(e as Error).message}`);
      }
    }
    ctx.log.debug(`${id}: criu ${o.preDump ? 'pre-dump' : 'dump'} of pid ${rec.pid} into ${imagePath}`);
    await swrk({
      criu: o.criu,
      req,
      fds: criuWritesStatus ? [statusFd] : [],
      log: path.join(workPath, logFile),
      what: o.preDump ? 'pre-dump' : 'dump',
      onNotify: (script) => {
        if (script !== 'status-ready' || ready === undefined) return;
        const fd = ready;
        ready = undefined;
        try {
          fs.writeSync(fd, Buffer.from([0]));
        } finally {
          fs.closeSync(fd);
        }
      },
    });
  } finally {
    fs.closeSync(images);
    if (work >= 0) fs.closeSync(work);
  }
  // criu killed the tree after a dump without --leave-running: the container is stopped, and
  // runc deletes it then (its cgroups and state go).
  if (!o.leaveRunning && !o.preDump) destroy(ctx, id, true, spec);
}
