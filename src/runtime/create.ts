// create: validate and plan first (nothing on disk yet), then claim the id, spawn husk-init
// and serve its sync stages until it is ready and waiting on the exec fifo.
import fs = require('node:fs');
import path = require('node:path');
import { HuskError } from '../errors';
import { probeHost } from '../host/probe';
import { initPath, native, type SyncMessage } from '../native';
import { buildPlan, type LaunchPlan } from '../plan';
import { encodePlan } from '../plan/encode';
import { lsmFailure } from '../plan/lsm';
import { MSG, STAGE } from '../plan/ops';
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
import { nextMessage, type RuntimeContext } from './context';
import { runningInUserNs } from './rootless';
import { runHooksOrFail, runHooksWarn } from './hooks';
import { compileInto, passListener } from './seccomp';
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

// How long create waits for each answer of the init: it never waits for ever on a process that
// cannot run (a cgroup frozen under it, a hook that hangs it). HUSK_INTERNAL_SYNC_TIMEOUT_MS
// shortens it for husk's own tests.
function syncTimeoutMs(): number {
  const t = Number(process.env.HUSK_INTERNAL_SYNC_TIMEOUT_MS);
  return Number.isInteger(t) && t > 0 ? t : 60_000;
}

const ETIMEDOUT = 110; // Linux

// The init's next message; past the deadline a clear error (the undo then kills the init).
async function nextAnswer(ctx: RuntimeContext, fd: number, timeoutMs: number, plan: LaunchPlan) {
  try {
    return await nextMessage(ctx, fd, timeoutMs);
  } catch (e) {
    if ((e as { errno?: number }).errno !== ETIMEDOUT) throw e;
    const frozen = plan.cgroups ? frozenCgroup(plan.cgroups) : null;
    throw new HuskError(
      `container init did not answer within ${timeoutMs / 1000} s${frozen ? `: its cgroup is frozen (${frozen})` : ''}; create gave up and killed it`,
    );
  }
}

function describeFailure(plan: LaunchPlan, m: SyncMessage): string {
  const plain = lsmFailure(plan.ops[m.op], m.text, m.errno);
  if (plain) return plain;
  const from = plan.ops[m.op]?.from ?? `op ${m.op}`;
  return `${from}: ${m.text}${m.errno ? `: ${m.errnoText}` : ''}`;
}

// Root writes the maps itself. Anyone else may write only a single mapping of their own id
// (after setgroups "deny"); anything more goes through the setuid newuidmap/newgidmap helpers
// with /etc/subuid and /etc/subgid, as runc does.
function writeIdMaps(pid: number, plan: LaunchPlan): void {
  const root = (process.geteuid?.() ?? 0) === 0;
  const write = (kind: 'uid' | 'gid', map: string, where: string) => {
    const lines = map.trim().split('\n');
    const own = kind === 'uid' ? process.geteuid?.() : process.getegid?.();
    const single =
      lines.length === 1 && lines[0].split(' ')[1] === String(own) && lines[0].split(' ')[2] === '1';
    try {
      if (root || single) {
        if (!root && kind === 'gid') fs.writeFileSync(`/proc/${pid}/setgroups`, 'deny');
        fs.writeFileSync(`/proc/${pid}/${kind}_map`, map);
      } else {
        const args = [String(pid), ...lines.flatMap((l) => l.split(' '))];
        // Loaded here: only several id ranges need the setuid helpers.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
        const r = spawnSync(`new${kind}map`, args, { encoding: 'utf8' });
        if (r.error) throw new Error(`new${kind}map: ${r.error.message} (install the uidmap package)`);
        if (r.status !== 0)
          throw new Error(`new${kind}map ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.status}`}`);
      }
    } catch (e) {
      throw new HuskError(`${where}: write ${kind}_map: ${(e as Error).message}`);
    }
  };
  write('uid', plan.namespaces.uidMap, '/linux/uidMappings');
  write('gid', plan.namespaces.gidMap, '/linux/gidMappings');
}

function killQuietly(pid: number): void {
  if (pid <= 0) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
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
  const earlyReady = plan.ops.some((o) => o.op === 'NOTIFY');
  let stage0 = -1;
  let exited = -1; // the first process, once it said the init's pid (see MSG.PID)
  let initPid = -1;
  let syncFd = -1;
  let ready: { commit: () => void } | null = null;
  try {
    const rec: ContainerRecord = {
      ociVersion: SPEC_VERSION,
      id,
      pid: 0,
      startTime: '',
      bundle,
      rootfs: plan.rootfs,
      created: new Date().toISOString(),
      owner: '',
      annotations: spec.annotations,
      cgroupDirs: [],
      freezerDir: null,
      namespaces: Object.fromEntries((spec.linux?.namespaces ?? []).map((n) => [n.type, n.path ?? ''])),
      config: 'config.json',
    };
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
    // directories (it waits for them at the cgroup stage below). In process the spawn itself runs
    // on the thread pool meanwhile. The promise never rejects, so nothing is left unhandled
    // should the steps below fail first; a launcher that throws at once (the CLI's synchronous
    // spawn) resolves to its error too. Killed before the record, a create leaves an init that
    // exits at the end of its sync socket, and a state directory `delete --force` removes.
    const spawning = (async () =>
      ctx.launcher.spawn({
        initPath: initPath(),
        plan: encoded,
        fifo,
        consoleSocket: opts.consoleSocket,
        preserveFds: opts.preserveFds ?? 0,
        stdio: opts.stdio,
        background: ctx.inProcess,
      }))().catch((e: Error) => e);
    let setupFailed: unknown = null;
    try {
      // The record is written before anything it names exists, and again once the init does,
      // so `delete --force` can clean up after a create killed at any point.
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
      if (cg) {
        undo.push('remove cgroups', () =>
          destroyCgroups(rec.cgroupDirs, rec.cgroupMade, ctx.keepCgroupParents),
        );
        // systemd makes its unit's directories once there is a process to put in them (at the
        // cgroup stage below); a stop of a unit that was never made is a no-op.
        if (rec.systemd) {
          const sd = rec.systemd;
          undo.push('stop the systemd unit', () => stopUnit(sd));
        }
      }
      // The device rules and limits go in with the directories, so that the init finds
      // everything in place when it gets to the cgroup stage and goes on at once. No process is
      // in them yet; systemd's unit is made only at that stage, so its limits wait.
      if (cg && !rec.systemd) {
        createCgroups(cg);
        if (ctx.keepCgroupParents) removeHuskParentsAtExit(host);
        attachDevices(cg);
        applyWrites(cg.writes);
      }
    } catch (e) {
      setupFailed = e;
    }
    const child = await spawning;
    if (child instanceof Error) {
      if (setupFailed) throw setupFailed;
      const msg = child.message;
      if (msg.startsWith('connect to the console socket'))
        throw new HuskError(
          `--console-socket ${opts.consoleSocket}: ${msg.replace('connect to the console socket', 'connect')}`,
        );
      throw new HuskError(`start the container init: ${msg}`);
    }
    stage0 = child.pid;
    syncFd = child.syncFd;
    undo.push('stop the container init', () => {
      if (plan.cgroups) moveOutOfFrozen(plan.cgroups, [initPid, stage0]);
      killQuietly(initPid);
      killQuietly(stage0);
      for (const p of [stage0, exited, initPid]) if (p > 0) ctx.launcher.reap(p);
    });
    if (setupFailed) throw setupFailed;
    crashPoint('after-spawn');
    if (plan.cgroups) crashPoint('after-cgroups');

    const timeoutMs = syncTimeoutMs();
    for (;;) {
      const m = await nextAnswer(ctx, syncFd, timeoutMs, plan);
      if (m === null) throw new HuskError('container init exited during create without saying why');
      if (m.type === MSG.ERROR) throw new HuskError(describeFailure(plan, m));
      if (m.type === MSG.PID) {
        initPid = m.pid;
        ctx.log.debug(`${id}: container init pid ${initPid}`);
        // The first process exits right after this message: collected at READY, by when it is
        // gone for sure, rather than waited for here.
        exited = stage0;
        stage0 = -1;
        crashPoint('after-fork');
        // The config snapshot and the ready record, written while the init makes its namespaces
        // and mounts (every init says its pid before it is ready); the READY stage only puts the
        // record in place. Until then nothing reads the snapshot: start, exec and update want a
        // created container, and a forced delete does without.
        ctx.store.writeConfig(id, spec);
        if (recordInit(rec, initPid)) ready = ctx.store.prepare(rec);
        await opts.onPid?.(initPid);
        // The answer to a NOTIFY ready stage, given now: from here the init may run the program.
        // An init that failed meanwhile has closed its end: its error is the next message.
        if (earlyReady) {
          try {
            native().reply(syncFd, MSG.ACK);
          } catch {
            /* read below */
          }
        }
        continue;
      }
      const ociState = (status: 'creating' | 'created') => ({
        ociVersion: SPEC_VERSION,
        id,
        status,
        // An init joining a pid namespace is forked after its rootfs is made (plan/index.ts
        // lateFork): hooks before that see the first process, in every namespace but the pid one.
        pid: initPid > 0 ? initPid : stage0,
        bundle,
        ...(spec.annotations ? { annotations: spec.annotations } : {}),
      });
      if (m.type === MSG.SECCOMP_FD) {
        passListener(m.fd!, spec.linux?.seccomp, initPid, ociState('creating'));
        native().reply(syncFd, MSG.ACK);
        continue;
      }
      if (m.type !== MSG.SYNC) throw new HuskError(`sync: unexpected message type ${m.type}`);
      const withData = plan.ops[m.op]?.op === 'FETCH_STATE';
      if (m.stage === STAGE.CGROUP) {
        // The first process waits here, before it makes any namespace or runs anything of the
        // container's: the limits and device rules are in place before it goes on, and it is in
        // the cgroups (systemd's unit first) or enters them itself right after (JOIN_CGROUP,
        // and CGROUP_INTO at its fork: see planCgroupJoin).
        if (plan.cgroups) {
          if (rec.systemd) {
            for (const w of startUnit(plan.cgroups, stage0, rec.systemd.userManager)) ctx.log.warn(w);
            createCgroups(plan.cgroups); // the hierarchies systemd does not manage
            attachDevices(plan.cgroups);
          }
          // Without systemd the limits went in with the directories; the init joins
          // (JOIN_CGROUP, CGROUP_INTO) after this stage.
          if (!plan.cgroupSelfJoin) joinCgroups(plan.cgroups.dirs, stage0);
          if (rec.systemd) applyWrites(plan.cgroups.writes);
        }
      } else if (m.stage === STAGE.USERMAP) {
        writeIdMaps(stage0, plan);
      } else if (m.stage === STAGE.CREATE_RUNTIME) {
        runHooksOrFail(spec.hooks, 'prestart', ociState('creating'), ctx.log);
        runHooksOrFail(spec.hooks, 'createRuntime', ociState('creating'), ctx.log);
      } else if (m.stage === STAGE.CREATE_CONTAINER) {
        native().reply(syncFd, MSG.ACK);
        native().sendData(syncFd, Buffer.from(JSON.stringify(ociState('creating'))));
        continue;
      } else if (m.stage === STAGE.READY) {
        crashPoint('at-ready');
        if (ready) ready.commit();
        else if (recordInit(rec, initPid)) ctx.store.write(rec);
        else throw new HuskError('container init exited during create');
        crashPoint('after-state');
        if (opts.pidFile) writePidFile(opts.pidFile, initPid);
        // A NOTIFY was answered at PID: the init runs the program already.
        if (!earlyReady) native().reply(syncFd, MSG.ACK);
        ctx.launcher.reap(exited);
        exited = -1;
        if (withData) native().sendData(syncFd, Buffer.from(JSON.stringify(ociState('created'))));
        break;
      } else {
        throw new HuskError(`sync: unexpected stage ${m.stage}`);
      }
      native().reply(syncFd, MSG.ACK);
    }
    undo.clear();
    if (opts.keepSync) {
      opts.keepSync(syncFd, (m) => describeFailure(plan, m));
      syncFd = -1;
    }
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
    if (syncFd >= 0) fs.closeSync(syncFd);
    lock.release();
  }
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
