// exec: run another process in a container, joining everything its init is in. In the
// foreground the exit status is ours; --detach returns once the process runs.
import fs = require('node:fs');
import { HuskError, NotHere } from '../errors';
import { probeHost } from '../host/probe';
import { initPath, native } from '../native';
import { buildExecPlan } from '../plan/exec';
import { execCgroupDirs, joinsItself, splitCgroupDirs } from '../plan/cgroup-join';
import { encodePlan } from '../plan/encode';
import { MSG, STAGE } from '../plan/ops';
import type { Process, Seccomp } from '../spec/types';
import { nextMessage, type RuntimeContext } from './context';
import { joinCgroups, primeCgroupAttach } from './cgroup';
import { writePidFile } from './create';
import { load, ociState } from './lifecycle';
import { compileInto, passListener } from './seccomp';
import { exitCodeOf } from './run';
import { listenForConsole, relay, type ConsoleReceiver } from './tty';
import type { ContainerRecord } from '../state/store';

export interface ExecOptions {
  process: Process;
  detach?: boolean;
  pidFile?: string;
  consoleSocket?: string;
  preserveFds?: number;
  ignorePaused?: boolean;
  seccomp?: Seccomp;
  cgroup?: string[]; // --cgroup: sub-cgroups of the container's to join (execCgroupDirs)
}

export async function exec(ctx: RuntimeContext, id: string, opts: ExecOptions): Promise<number> {
  const { rec, status } = load(ctx, id);
  if (status === 'paused' && !opts.ignorePaused)
    throw new HuskError(`container ${id} is paused (use --ignore-paused)`);
  if (status !== 'running' && status !== 'created' && status !== 'paused')
    throw new HuskError(`cannot exec in container ${id}: it is ${status}`);
  // Its processes share the runtime's mount namespace, chrooted: an exec'd process would join
  // no mount namespace and run on the runtime's root instead of the container's.
  if (!('mount' in rec.namespaces))
    throw new HuskError(
      `cannot exec in container ${id}: it has no mount namespace of its own, and husk runs no process on the runtime's root`,
    );
  const cgroupDirs = execCgroupDirs(rec.cgroupDirs, opts.cgroup ?? [], probeHost());
  const missing = cgroupDirs.find((d) => !rec.cgroupDirs.includes(d) && !fs.existsSync(d));
  if (missing) throw new HuskError(`--cgroup: join ${missing}: no such cgroup`);
  // `exec -t` in the foreground without a console socket: husk relays its own terminal.
  const relayed = opts.process.terminal && !opts.consoleSocket && !opts.detach;
  if (relayed && !ctx.launcher.relaysTerminal) throw new NotHere();
  const receiver = relayed ? listenForConsole() : null;
  try {
    return await execWith(
      ctx,
      rec,
      status,
      cgroupDirs,
      { ...opts, consoleSocket: receiver?.socket ?? opts.consoleSocket },
      receiver,
    );
  } finally {
    receiver?.close();
  }
}

async function execWith(
  ctx: RuntimeContext,
  rec: ContainerRecord,
  status: 'created' | 'running' | 'paused',
  cgroupDirs: string[],
  opts: ExecOptions,
  receiver: ConsoleReceiver | null,
): Promise<number> {
  const host = probeHost();
  // As root the process enters the container's cgroups itself (plan/cgroup-join.ts).
  const selfJoin = cgroupDirs.length > 0 && joinsItself(host, ctx.rootless, false);
  const plan = buildExecPlan(
    {
      initPid: rec.pid,
      namespaces: Object.keys(rec.namespaces),
      joinCgroups: cgroupDirs.length > 0 && !selfJoin,
      cgroupJoin: selfJoin ? splitCgroupDirs(cgroupDirs, host.unified) : undefined,
      process: opts.process,
      consoleSocket: !!opts.consoleSocket,
      seccomp: opts.seccomp,
      setgroupsDenied: setgroupsDenied(rec.pid),
    },
    host,
  );
  if (plan.cgroupProcsWrite) primeCgroupAttach(host);
  for (const w of plan.warnings) ctx.log.warn(w);
  compileInto(plan.ops, plan.seccomp, ctx.log);
  const child = await ctx.launcher.spawn({
    initPath: initPath(),
    plan: encodePlan(plan.ops),
    consoleSocket: opts.consoleSocket,
    preserveFds: opts.preserveFds ?? 0,
  });
  let pid = -1;
  let stage0 = child.pid;
  let exited = -1;
  try {
    for (;;) {
      const m = await nextMessage(ctx, child.syncFd, 60_000);
      if (m === null) throw new HuskError('exec: the process exited before it was set up');
      if (m.type === MSG.ERROR) {
        const from = plan.ops[m.op]?.from ?? `op ${m.op}`;
        throw new HuskError(`exec: ${from}: ${m.text}${m.errno ? `: ${m.errnoText}` : ''}`);
      }
      if (m.type === MSG.PID) {
        pid = m.pid;
        // Collected at READY (see create): the first process exits right after this message.
        exited = stage0;
        stage0 = -1;
        continue;
      }
      if (m.type === MSG.SECCOMP_FD) {
        passListener(m.fd!, opts.seccomp, pid, ociState(rec, status));
        native().reply(child.syncFd, MSG.ACK);
        continue;
      }
      if (m.stage === STAGE.CGROUP) {
        joinCgroups(cgroupDirs, stage0);
      } else if (m.stage === STAGE.READY) {
        if (pid <= 0) throw new HuskError('exec: the process was ready before its pid was known');
        if (opts.pidFile) writePidFile(opts.pidFile, pid);
        native().reply(child.syncFd, MSG.ACK);
        ctx.launcher.reap(exited);
        exited = -1;
        break;
      }
      native().reply(child.syncFd, MSG.ACK);
    }
  } catch (e) {
    for (const p of [stage0, pid])
      if (p > 0) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    for (const p of [stage0, exited, pid]) if (p > 0) ctx.launcher.reap(p);
    throw e;
  } finally {
    fs.closeSync(child.syncFd);
  }
  if (opts.detach) return 0;
  const tty = receiver ? relay(receiver.take(), opts.process.consoleSize) : null;
  const stop = await ctx.launcher.forwardSignals(pid);
  try {
    const status = await ctx.launcher.wait(pid);
    if (tty) await Promise.race([tty.done, new Promise((r) => setTimeout(r, 500))]);
    return exitCodeOf(status);
  } finally {
    stop();
    tty?.stop();
  }
}

// A rootless container's user namespace may forbid setgroups (a single mapping of the caller's
// own gid); a process joining it must then keep its groups as they are.
function setgroupsDenied(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/setgroups`, 'utf8').trim() === 'deny';
  } catch {
    return false;
  }
}
