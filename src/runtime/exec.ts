// exec: run another process in a container, joining everything its init is in. In the
// foreground the exit status is ours; --detach returns once the process runs. What the process
// runs with comes from the container's saved config (exec-policy.ts), whoever calls.
import fs = require('node:fs');
import { HuskError, NotHere } from '../errors';
import { probeHost } from '../host/probe';
import { initPath } from '../native';
import { buildExecPlan } from '../plan/exec';
import { execCgroupDirs, joinsItself, splitCgroupDirs } from '../plan/cgroup-join';
import { encodePlan } from '../plan/encode';
import { execPolicy, type ExecRequest, type ExecPolicy } from './exec-policy';
import type { RuntimeContext } from './context';
import { launch } from './launch';
import { Undo } from './undo';
import { joinCgroups, primeCgroupAttach } from './cgroups';
import { writePidFile } from './create';
import { load, ociState } from './lifecycle';
import { compileInto, passListener } from './seccomp';
import { exitCodeOf } from './run';
import { listenForConsole, relay, type ConsoleReceiver } from './tty';
import type { ContainerRecord } from '../state/store';

export type { ExecOverrides } from './exec-policy';

// The process: a whole one (`process`), or the container's own with `overrides` laid over it.
// There is no way to pass a seccomp filter or to drop the container's: it always applies.
export interface ExecOptions extends ExecRequest {
  detach?: boolean;
  pidFile?: string;
  consoleSocket?: string;
  preserveFds?: number;
  ignorePaused?: boolean;
  cgroup?: string[]; // --cgroup: sub-cgroups of the container's to join (execCgroupDirs)
}

export async function exec(ctx: RuntimeContext, id: string, opts: ExecOptions): Promise<number> {
  const { rec, status } = load(ctx, id);
  // runc's words: callers match them.
  if (status === 'paused' && !opts.ignorePaused)
    throw new HuskError(`cannot exec in a paused container (use --ignore-paused to override)`);
  if (status !== 'running' && status !== 'created' && status !== 'paused')
    throw new HuskError(`cannot exec in a ${status} container`);
  // Its processes share the runtime's mount namespace, chrooted: an exec'd process would join
  // no mount namespace and run on the runtime's root instead of the container's.
  if (!('mount' in rec.namespaces))
    throw new HuskError(
      `cannot exec in container ${id}: it has no mount namespace of its own, and husk runs no process on the runtime's root`,
    );
  const cgroupDirs = execCgroupDirs(rec.cgroupDirs, opts.cgroup ?? [], probeHost());
  const missing = cgroupDirs.find((d) => !rec.cgroupDirs.includes(d) && !fs.existsSync(d));
  if (missing) throw new HuskError(`--cgroup: join ${missing}: no such cgroup`);
  const spec = ctx.store.readConfig(id);
  if (!spec) throw new HuskError(`container ${id} has no saved config`);
  const policy = execPolicy(spec, opts);
  // `exec -t` in the foreground without a console socket: husk relays its own terminal.
  const relayed = policy.process.terminal && !opts.consoleSocket && !opts.detach;
  if (relayed && !ctx.launcher.relaysTerminal) throw new NotHere();
  const receiver = relayed ? listenForConsole() : null;
  try {
    return await execWith(
      ctx,
      rec,
      status,
      cgroupDirs,
      policy,
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
  policy: ExecPolicy,
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
      process: policy.process,
      consoleSocket: !!opts.consoleSocket,
      relayedTerminal: !!receiver,
      seccomp: policy.seccomp,
      lsmFrom: policy.lsmFrom,
      setgroupsDenied: setgroupsDenied(rec.pid),
    },
    host,
  );
  if (plan.cgroupProcsWrite) primeCgroupAttach(host);
  for (const w of plan.warnings) ctx.log.warn(w);
  compileInto(plan.ops, plan.seccomp, ctx.log);
  const { pid } = await launch(ctx, {
    what: 'exec',
    ops: plan.ops,
    spawn: {
      initPath: initPath(),
      plan: encodePlan(plan.ops),
      consoleSocket: opts.consoleSocket,
      preserveFds: opts.preserveFds ?? 0,
    },
    undo: new Undo(),
    stages: {
      cgroup: (p) => joinCgroups(cgroupDirs, p),
      pid: (p) => ctx.log.debug(`${rec.id}: exec process pid ${p}`),
      seccomp: (fd, p) => passListener(fd, policy.seccomp, p, ociState(rec, status)),
      ready: (p) => {
        if (opts.pidFile) writePidFile(opts.pidFile, p);
      },
    },
  });
  if (opts.detach) return 0;
  const tty = receiver ? relay(receiver.take(), policy.process.consoleSize) : null;
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
