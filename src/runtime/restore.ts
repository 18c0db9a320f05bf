// restore: a new container from a bundle whose process tree criu brings back from --image-path.
// As runc does it: the container's cgroups are made first and criu joins them (its cg_root),
// the rootfs is bound on <state>/criu-root for criu's root, bind mounts and masked files are
// mapped back to their sources, pipes on fds 0-2 at dump time (descriptors.json) are given the
// caller's fds, joined namespaces the fds of their paths; the restored init is our child
// (rst_sibling), written to the state and the pid file once criu says post-restore.
import fs = require('node:fs');
import path = require('node:path');
import { HuskError } from '../errors';
import {
  cgroupBinds,
  commonOpts,
  inheritedStdio,
  FIRST_EXTRA_FD,
  restoreMounts,
  restoreNamespaces,
  type CriuFlags,
} from '../criu/policy';
import { REQ, type CriuOpts } from '../criu/rpc';
import { criuVersion, swrk } from '../criu/swrk';
import { probeHost } from '../host/probe';
import { native } from '../native';
import { planCgroups } from '../plan/cgroups';
import { loadConfig } from '../spec/load';
import type { Spec } from '../spec/types';
import { checkId } from '../state/id';
import { startTimeOf } from '../state/status';
import type { ContainerRecord } from '../state/store';
import { DESCRIPTORS } from './checkpoint';
import {
  applyWrites,
  attachDevices,
  createCgroups,
  destroyCgroups,
  joinCgroups,
  missingDirs,
  startUnit,
  stopUnit,
  systemdDriver,
} from './cgroups';
import type { RuntimeContext } from './context';
import { writePidFile } from './create';
import { runHooksOrFail } from './hooks';
import { destroy } from './lifecycle';
import { exitCodeOf } from './run';
import { forwardSignals } from './signals';
import { hookState, newRecord } from './record';
import { Undo } from './undo';
import { prepareMountpoints } from './restore-mounts';

export interface RestoreOptions extends CriuFlags {
  bundle: string;
  detach?: boolean;
  pidFile?: string;
  consoleSocket?: string;
  noPivot?: boolean;
  lsmProfile?: string; // TYPE:NAME, in place of the profile in the images
  lsmMountContext?: string;
}

// criu before 3.16 cannot restore under another LSM label than the one it dumped.
const MIN_LSM_CRIU = 31600;

function lsmOpts(o: RestoreOptions, criuVersion: { number: number; text: string }): Partial<CriuOpts> {
  if (!o.lsmProfile && !o.lsmMountContext) return {};
  if (criuVersion.number < MIN_LSM_CRIU)
    throw new HuskError(
      `${o.lsmProfile ? '--lsm-profile' : '--lsm-mount-context'} needs criu 3.16 or later (criu here is ${criuVersion.text})`,
    );
  if (o.lsmProfile && !/^(apparmor|selinux):./.test(o.lsmProfile))
    throw new HuskError(`--lsm-profile ${o.lsmProfile}: expected apparmor:NAME or selinux:LABEL`);
  return {
    ...(o.lsmProfile ? { lsm_profile: o.lsmProfile } : {}),
    ...(o.lsmMountContext ? { lsm_mount_context: o.lsmMountContext } : {}),
  };
}

function readDescriptorsFile(imagePath: string): string[] {
  const file = path.join(imagePath, DESCRIPTORS);
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new Error('not a list of strings');
    return v;
  } catch (e) {
    throw new HuskError(
      `--image-path: ${file}: ${(e as Error).message} (not a checkpoint made by checkpoint?)`,
    );
  }
}

// /proc/<pid>/cgroup as criu's cgroup roots: each v1 controller set and the v2 path.
function cgroupRoots(pid: number): { ctrl?: string; path: string }[] {
  const out: { ctrl?: string; path: string }[] = [];
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const ctrl = m[1].replace(/^name=/, 'name=');
    out.push(ctrl ? { ctrl, path: m[2] } : { path: m[2] });
  }
  return out;
}

// The console of a restored terminal container: criu hands the pty master over (orphan pts
// master); it goes to --console-socket as runc sends it, with the fd's name.
function sendConsole(socketPath: string, master: number): void {
  let sock: number;
  try {
    sock = native().connectUnix(socketPath);
  } catch (e) {
    throw new HuskError(`--console-socket ${socketPath}: connect: ${(e as Error).message}`);
  }
  try {
    native().seqSend(sock, Buffer.from('/dev/ptmx'), [master]);
  } finally {
    fs.closeSync(sock);
  }
}

export async function restore(ctx: RuntimeContext, id: string, o: RestoreOptions): Promise<number> {
  checkId(id);
  const bundle = path.resolve(o.bundle);
  const spec: Spec = loadConfig(bundle);
  if (spec.process?.terminal && !o.consoleSocket && !o.detach)
    throw new HuskError('restore of a terminal container needs --console-socket (or --detach)');
  const imagePath = path.resolve(o.imagePath);
  const workPath = path.resolve(o.workPath);
  const lsm = lsmOpts(o, await criuVersion(o.criu));
  const descriptors = readDescriptorsFile(imagePath);
  const rootfs = path.resolve(bundle, spec.root?.path ?? 'rootfs');
  if (!fs.existsSync(rootfs)) throw new HuskError(`/root/path: rootfs ${rootfs} does not exist`);
  const host = probeHost();
  // With --systemd-cgroup the transient unit is made for criu's pid (as create makes it for the
  // init's), and criu restores the tree into it.
  const systemd = ctx.systemdCgroup ? systemdDriver() : undefined;
  const cg = planCgroups(spec, host, id, systemd);

  const lock = ctx.store.claim(id);
  const dir = ctx.store.dir(id);
  const undo = new Undo();
  undo.push('remove state directory', () => ctx.store.remove(id, lock));
  const opened: number[] = [];
  const extra: number[] = []; // criu's fds from FIRST_EXTRA_FD on
  let restoredPid = 0;
  try {
    const rec: ContainerRecord = {
      ...newRecord(id, bundle, rootfs, spec),
      cgroupDirs: cg ? [...cg.dirs] : [],
      cgroupMade: cg ? missingDirs(cg) : [],
    };
    if (cg?.systemd && systemd)
      rec.systemd = { unit: cg.systemd.unit, userManager: systemd.userManager, base: systemd.base };
    if (cg) {
      const freezer = cg.v1.find((h) => h.controllers.includes('freezer'));
      rec.freezerDir = freezer
        ? path.join(freezer.dir, 'freezer.state')
        : host.cgroupMode === 'v2' && cg.unifiedDir
          ? path.join(cg.unifiedDir, 'cgroup.freeze')
          : null;
    }
    // Written before anything it names exists, so `delete --force` cleans up after a restore
    // killed at any point.
    ctx.store.write(rec);
    ctx.store.writeConfig(id, spec);
    if (cg) {
      undo.push('remove cgroups', () => destroyCgroups(rec.cgroupDirs, rec.cgroupMade));
      if (rec.systemd) {
        const sd = rec.systemd;
        undo.push('stop the systemd unit', () => stopUnit(sd));
      } else {
        createCgroups(cg);
        attachDevices(cg);
        applyWrites(cg.writes);
      }
    }
    prepareMountpoints(spec, rootfs, ctx.log);
    const criuRoot = path.join(dir, 'criu-root');
    fs.mkdirSync(criuRoot, { mode: 0o755 });
    const err = native().bindMount(rootfs, criuRoot);
    if (err) throw new HuskError(`bind ${rootfs} on ${criuRoot} for criu: errno ${err}`);
    const dropRoot = () => {
      native().umountDetach(criuRoot);
      fs.rmdirSync(criuRoot);
    };
    undo.push('detach criu-root', dropRoot);

    const open = (p: string, flag: string) => {
      try {
        if (flag === '--work-path') fs.mkdirSync(p, { recursive: true, mode: 0o700 });
        const fd = fs.openSync(p, 'r');
        opened.push(fd);
        return fd;
      } catch (e) {
        throw new HuskError(`${flag} ${p}: ${(e as Error).message}`);
      }
    };
    const images = open(imagePath, '--image-path');
    const work = open(workPath, '--work-path');
    const logFile = 'restore.log';
    const opts: CriuOpts = {
      ...commonOpts(o, spec, logFile, { images, work }),
      root: criuRoot,
      rst_sibling: true,
      ext_mnt: restoreMounts(
        spec,
        bundle,
        rootfs,
        cg?.unifiedDir && cgroupBinds(spec, host.cgroupMode === 'v2') ? cg.unifiedDir : undefined,
      ),
      inherit_fd: inheritedStdio(descriptors),
      ...lsm,
    };
    for (const ns of restoreNamespaces(spec)) {
      extra.push(open(ns.path, '/linux/namespaces:'));
      opts.inherit_fd!.push({ key: ns.key, fd: FIRST_EXTRA_FD + extra.length - 1 });
    }
    const state = (pid: number, status: 'creating' | 'running') => hookState(id, bundle, spec, status, pid);
    undo.push('stop the restored container', () => {
      if (restoredPid > 0) {
        try {
          process.kill(restoredPid, 'SIGKILL');
        } catch {
          /* gone */
        }
        ctx.launcher.reap(restoredPid);
      }
    });
    ctx.log.debug(`${id}: criu restore from ${imagePath}`);
    await swrk({
      criu: o.criu,
      req: { type: REQ.RESTORE, opts },
      fds: extra,
      stdio: [0, 1, 2],
      log: path.join(workPath, logFile),
      what: 'restore',
      beforeRequest: (criuPid) => {
        // criu restores the tree into the cgroups it is in itself, below these roots.
        if (!cg) return;
        if (rec.systemd) {
          for (const w of startUnit(cg, criuPid, rec.systemd.userManager)) ctx.log.warn(w);
          createCgroups(cg); // the hierarchies systemd does not manage
          attachDevices(cg);
          applyWrites(cg.writes);
        }
        joinCgroups(cg.dirs, criuPid);
        return { type: REQ.RESTORE, opts: { ...opts, cg_root: cgroupRoots(criuPid) } };
      },
      onNotify: (script, pid, got) => {
        if (script === 'setup-namespaces' && pid) {
          runHooksOrFail(spec.hooks, 'prestart', state(pid, 'creating'), ctx.log);
          runHooksOrFail(spec.hooks, 'createRuntime', state(pid, 'creating'), ctx.log);
        } else if (script === 'post-restore' && pid) {
          restoredPid = pid;
          const start = startTimeOf(pid);
          if (!start) throw new HuskError(`restored init ${pid} is gone`);
          rec.pid = pid;
          rec.startTime = start;
          ctx.store.write(rec);
          if (o.pidFile) writePidFile(o.pidFile, pid);
        } else if (script === 'orphan-pts-master' && got.length && o.consoleSocket) {
          sendConsole(o.consoleSocket, got[0]);
        }
      },
    });
    if (!restoredPid) throw new HuskError('criu restore succeeded but never said the restored pid');
    undo.clear();
    dropRoot();
  } catch (e) {
    undo.run((what, err) => ctx.log.warn(`cleanup after failed restore: ${what}: ${(err as Error).message}`));
    throw e;
  } finally {
    for (const fd of opened) fs.closeSync(fd);
    lock.release();
  }
  ctx.log.debug(`${id}: restored, init pid ${restoredPid}`);
  if (o.detach) return 0;
  const stop = forwardSignals(restoredPid);
  let code: number;
  try {
    code = exitCodeOf(await ctx.launcher.wait(restoredPid));
  } finally {
    stop();
  }
  destroy(ctx, id, true, spec);
  return code;
}
