// create: validate and plan first (nothing on disk yet), then claim the id, spawn husk-init
// and serve its sync stages until it is ready and waiting on the exec fifo.
import fs = require('node:fs');
import path = require('node:path');
import { HuskError } from '../errors';
import { probeHost } from '../host/probe';
import { initPath, native, type SyncMessage } from '../native';
import type { HostFacts } from '../host/probe';
import { buildPlan, type LaunchPlan } from '../plan';
import { encodePlan } from '../plan/encode';
import { loadConfig, SPEC_VERSION } from '../spec/load';
import type { Spec } from '../spec/types';
import { checkId } from '../state/id';
import { startTimeOf } from '../state/status';
import { writeAtomic, type ContainerRecord } from '../state/store';
import {
  applyWrites,
  attachDevices,
  callerCanUseCgroup,
  cgroupPids,
  createCgroups,
  destroyCgroups,
  isHuskParent,
  joinCgroups,
  missingDirs,
  removeHuskParentsAtExit,
  primeCgroupAttach,
} from './cgroups';
import { startUnit, stopUnit, systemdDriver } from './cgroups';
import type { RuntimeContext } from './context';
import { writeIdMaps } from './id-maps';
import { launch } from './launch';
import { runningInUserNs } from '../host/userns';
import { runHooksOrFail, runHooksWarn } from './hooks';
import { compileInto, passListener } from './seccomp';
import { hookState, newRecord } from './record';
import { Undo } from './undo';
import { frozenCgroup, moveOutOfFrozen } from './cgroups';
import { detachHostRootfs, topMountId } from './host-rootfs';

export interface CreateOptions {
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  relayedTerminal?: boolean; // consoleSocket is husk's own relay's (run)
  noPivot?: boolean;
  preserveFds?: number;
  noNewKeyring?: boolean;
  // In-process callers: the container's stdin, stdout, stderr as fds (default: ours).
  stdio?: (number | null)[];
  spec?: Spec; // in-process callers may pass the config instead of a bundle's config.json
  // run: keep the sync socket to learn whether the exec after `start` failed (see run.ts).
  // run keeps the sync socket to hear of a failed exec or startContainer hook; `describe`
  // names the config entry of such a failure.
  keepSync?: (fd: number, describe: (m: SyncMessage) => string) => void;
  // run: no exec fifo; the init runs the program as soon as create is done (see run.ts).
  startAtOnce?: boolean;
  // run: told the init's pid as soon as it is known, while the init still sets up.
  onPid?: (pid: number) => void | Promise<void>;
}

export async function create(ctx: RuntimeContext, id: string, opts: CreateOptions): Promise<ContainerRecord> {
  checkId(id);
  const bundle = path.resolve(opts.bundle);
  const spec = opts.spec ?? loadConfig(bundle);
  if (!opts.spec) ctx.log.debug(`${id}: config loaded from ${bundle}/config.json`);
  const host = probeHost();
  // Fails here, before anything exists, when systemd is not running (runc does not fall back).
  const systemd = ctx.systemdCgroup ? systemdDriver() : undefined;
  const plan = buildPlan(spec, host, {
    id,
    bundle,
    noPivot: opts.noPivot,
    consoleSocket: !!opts.consoleSocket,
    relayedTerminal: opts.relayedTerminal,
    noNewKeyring: opts.noNewKeyring,
    startAtOnce: opts.startAtOnce,
    cgroupAccess: ctx.rootless
      ? {
          uid: host.euid,
          canUse: callerCanUseCgroup,
          keepDeviceRules: host.euid === 0 && !runningInUserNs(),
        }
      : undefined,
    systemd,
  });
  if (!ctx.systemdCgroup && plan.cgroupProcsWrite) primeCgroupAttach(host);
  if (!fs.existsSync(plan.rootfs)) throw new HuskError(`/root/path: rootfs ${plan.rootfs} does not exist`);
  for (const w of plan.warnings) ctx.log.warn(w);
  for (const n of plan.notes) ctx.log.debug(n);
  ctx.log.debug(`${id}: launch plan built: ${plan.ops.length} ops, rootfs ${plan.rootfs}`);
  compileInto(plan.ops, plan.seccomp, ctx.log);
  const encoded = encodePlan(plan.ops);

  const lock = ctx.store.claim(id);
  const dir = ctx.store.dir(id);
  const undo = new Undo();
  undo.push('remove state directory', () => ctx.store.remove(id, lock));
  try {
    const rec: ContainerRecord = newRecord(id, bundle, plan.rootfs, spec);
    if (!(spec.linux?.namespaces ?? []).some((n) => n.type === 'mount')) {
      // The init mounts in our mount namespace: what it adds goes again with the container.
      const root = fs.realpathSync(plan.rootfs);
      const hostMount = { path: root, below: topMountId(root) };
      rec.hostRootfsMount = hostMount;
      undo.push('detach the rootfs mounts', () => detachHostRootfs(hostMount));
    }
    const fifo = opts.startAtOnce ? undefined : path.join(dir, 'exec.fifo');
    if (fifo) native().mkfifo(fifo, 0o622);
    // The init starts first: its exec and first steps overlap with the record and the cgroup
    // directories (it waits for them at the cgroup stage). In process the spawn itself runs on
    // the thread pool meanwhile. Killed before the record, a create leaves an init that exits
    // at the end of its sync socket, and a state directory `delete --force` removes.
    let initPid = -1;
    let ready: { commit: () => void } | null = null;
    // An init joining a pid namespace is forked after its rootfs is made (plan/index.ts
    // lateFork): hooks before that see the first process, in every namespace but the pid one.
    const ociState = (status: 'creating' | 'created', pid: number) =>
      hookState(id, bundle, spec, status, pid);
    const launched = await launch(ctx, {
      what: 'create',
      ops: plan.ops,
      spawn: {
        initPath: initPath(),
        plan: encoded,
        fifo,
        consoleSocket: opts.consoleSocket,
        preserveFds: opts.preserveFds ?? 0,
        stdio: opts.stdio,
        background: ctx.inProcess,
      },
      undo,
      keepSync: !!opts.keepSync,
      alongside: () => setUpAlongside(ctx, rec, plan, host, systemd, undo),
      spawnFailed: (e) => {
        const msg = e.message;
        if (msg.startsWith('connect to the console socket'))
          return new HuskError(
            `--console-socket ${opts.consoleSocket}: ${msg.replace('connect to the console socket', 'connect')}`,
          );
        return new HuskError(`start the container init: ${msg}`);
      },
      spawned: () => {
        crashPoint('after-spawn');
        if (plan.cgroups) crashPoint('after-cgroups');
      },
      beforeKill: (pids) => plan.cgroups && moveOutOfFrozen(plan.cgroups, pids),
      timedOut: () => {
        const frozen = plan.cgroups ? frozenCgroup(plan.cgroups) : null;
        return frozen ? `: its cgroup is frozen (${frozen})` : '';
      },
      stages: {
        // The first process waits here, before it makes any namespace or runs anything of the
        // container's: the limits and device rules are in place before it goes on, and it is in
        // the cgroups (systemd's unit first) or enters them itself right after (JOIN_CGROUP,
        // and CGROUP_INTO at its fork: see planCgroupJoin).
        cgroup: (pid) => {
          if (!plan.cgroups) return;
          if (rec.systemd) {
            for (const w of startUnit(plan.cgroups, pid, rec.systemd.userManager)) ctx.log.warn(w);
            createCgroups(plan.cgroups); // the hierarchies systemd does not manage
            attachDevices(plan.cgroups);
          }
          // Without systemd the limits went in with the directories; the init joins
          // (JOIN_CGROUP, CGROUP_INTO) after this stage.
          if (!plan.cgroupSelfJoin) joinCgroups(plan.cgroups.dirs, pid);
          if (rec.systemd) applyWrites(plan.cgroups.writes);
        },
        usermap: (pid) => writeIdMaps(pid, plan),
        createRuntime: (pid) => {
          runHooksOrFail(spec.hooks, 'prestart', ociState('creating', pid), ctx.log);
          runHooksOrFail(spec.hooks, 'createRuntime', ociState('creating', pid), ctx.log);
        },
        pid: async (pid) => {
          initPid = pid;
          ctx.log.debug(`${id}: container init pid ${initPid}`);
          crashPoint('after-fork');
          // The config snapshot and the ready record, written while the init makes its
          // namespaces and mounts (every init says its pid before it is ready); the ready stage
          // only puts the record in place. Until then nothing reads the snapshot: start, exec and
          // update want a created container, and a forced delete does without.
          ctx.store.writeConfig(id, spec);
          if (recordInit(rec, initPid)) ready = ctx.store.prepare(rec);
          await opts.onPid?.(initPid);
        },
        seccomp: (fd, pid) => passListener(fd, spec.linux?.seccomp, pid, ociState('creating', pid)),
        ready: () => {
          crashPoint('at-ready');
          if (ready) ready.commit();
          else if (recordInit(rec, initPid)) ctx.store.write(rec);
          else throw new HuskError('container init exited during create');
          crashPoint('after-state');
          if (opts.pidFile) writePidFile(opts.pidFile, initPid);
        },
        state: (kind, pid) => ociState(kind === 'ready' ? 'created' : 'creating', pid),
      },
    });
    if (opts.keepSync) opts.keepSync(launched.syncFd, launched.describe);
    return rec;
  } catch (e) {
    undo.run((what, err) => ctx.log.warn(`cleanup after failed create: ${what}: ${(err as Error).message}`));
    // A failed prestart, createRuntime or createContainer hook stops the container and goes on
    // to the poststop hooks (runtime.md, lifecycle).
    const hookFailed = /^\/hooks\/(prestart|createRuntime|createContainer)\//.test((e as Error).message);
    if (hookFailed && spec.hooks?.poststop?.length)
      runHooksWarn(
        spec.hooks,
        'poststop',
        { ociVersion: SPEC_VERSION, id, status: 'stopped', bundle, pid: 0 },
        ctx.log,
      );
    throw e;
  } finally {
    lock.release();
  }
}

// While husk-init starts: the record is written before anything it names exists, and again
// once the init does, so `delete --force` can clean up after a create killed at any point; the
// cgroup directories, device rules and limits go in so that the init finds everything in place
// when it gets to the cgroup stage and goes on at once.
function setUpAlongside(
  ctx: RuntimeContext,
  rec: ContainerRecord,
  plan: LaunchPlan,
  host: HostFacts,
  systemd: ReturnType<typeof systemdDriver> | undefined,
  undo: Undo,
): void {
  const cg = plan.cgroups;
  if (cg) {
    // Before the init joins: in a frozen cgroup it would stop at once (runc's words).
    const frozen = frozenCgroup(cg);
    if (frozen) throw new HuskError(`container's cgroup unexpectedly frozen (${frozen})`);
    // A cgroup that already holds processes is shared with them (limits, kill at delete):
    // allowed, as runc allows it, but said in runc's words.
    const present = cgroupPids(cg.dirs.filter((d) => fs.existsSync(d))).length;
    if (present) ctx.log.warn(`container's cgroup is not empty: ${present} process(es) found`);
    rec.cgroupDirs = [...cg.dirs];
    // /husk, kept between containers by a long-lived process, is not this container's to
    // remove; every other directory it makes is (the ancestors of a cgroupsPath too).
    rec.cgroupMade = ctx.keepCgroupParents
      ? missingDirs(cg).filter((d) => cg.dirs.includes(d) || !isHuskParent(d, host))
      : missingDirs(cg);
    if (cg.systemd && systemd)
      rec.systemd = { unit: cg.systemd.unit, userManager: systemd.userManager, base: systemd.base };
    const freezer = cg.v1.find((h) => h.controllers.includes('freezer'));
    rec.freezerDir = freezer
      ? path.join(freezer.dir, 'freezer.state')
      : host.cgroupMode === 'v2' && cg.unifiedDir
        ? path.join(cg.unifiedDir, 'cgroup.freeze')
        : null;
  }
  ctx.store.write(rec);
  crashPoint('after-record');
  if (!cg) return;
  undo.push('remove cgroups', () => destroyCgroups(rec.cgroupDirs, rec.cgroupMade, ctx.keepCgroupParents));
  // systemd makes its unit's directories once there is a process to put in them (at the cgroup
  // stage); a stop of a unit that was never made is a no-op. No process is in them yet;
  // systemd's unit is made only at that stage, so its limits wait.
  if (rec.systemd) {
    const sd = rec.systemd;
    undo.push('stop the systemd unit', () => stopUnit(sd));
    return;
  }
  createCgroups(cg);
  if (ctx.keepCgroupParents) removeHuskParentsAtExit(host);
  attachDevices(cg);
  applyWrites(cg.writes);
}

// The init's pid and start time (which tell it from a later process with its pid) into the
// record; false when it is gone already. An init that has exited counts until it is reaped (by
// the launcher, later): run's init does not wait for create to finish (NOTIFY), and a program
// that exits at once can be done before create looks.
function recordInit(rec: ContainerRecord, pid: number): boolean {
  const start = startTimeOf(pid, true);
  if (!start) return false;
  rec.pid = pid;
  rec.startTime = start;
  return true;
}

// For the crash-recovery tests only: HUSK_INTERNAL_CRASH_AT=<point> makes create die by
// SIGKILL there, as an engine killing a hung runtime would.
// Read once per process: process.env is slow to read, and create passes six points.
let crashAt: string | undefined | null = null;
function crashPoint(name: string): void {
  if (crashAt === null) crashAt = process.env.HUSK_INTERNAL_CRASH_AT;
  if (crashAt === name) process.kill(process.pid, 'SIGKILL');
}

export function writePidFile(file: string, pid: number): void {
  // runc writes the bare pid, no newline, through a temp file in the same directory.
  const abs = path.resolve(file);
  try {
    writeAtomic(abs, String(pid), 0o644);
  } catch (e) {
    throw new HuskError(`--pid-file ${abs}: ${(e as Error).message}`);
  }
}
