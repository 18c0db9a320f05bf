// The plan of a process joining a running container (exec): its cgroups, every namespace of
// the container's init (user first, mount last), the LSM labels and pty, then, with no host
// handle left open, a fork into the pid namespace and the same identity and exec steps as the init.
import { HuskError } from '../errors';
import type { HostFacts } from '../host/probe';
import type { Process } from '../spec/types';
import { planCgroupJoin, type CgroupJoinInput } from './cgroup-join';
import { CLONE, type NsType } from './namespaces';
import { op, STAGE, type Op } from './ops';
import { consoleOp, planIdentityAndExec, planRlimits } from './process';
import { planLsm, type LsmSources } from './lsm';
import { planScheduling } from './scheduling';
import { placeSeccomp, planSeccomp, type SeccompRequest } from './seccomp';
import type { Seccomp } from '../spec/types';

const PROC_NAME: Record<NsType, string> = {
  user: 'user',
  ipc: 'ipc',
  uts: 'uts',
  network: 'net',
  pid: 'pid',
  cgroup: 'cgroup',
  time: 'time',
  mount: 'mnt',
};

const JOIN_ORDER: NsType[] = ['user', 'ipc', 'uts', 'network', 'pid', 'cgroup', 'time', 'mount'];

export interface ExecPlanInput {
  initPid: number;
  namespaces: string[]; // the container's namespace types
  joinCgroups: boolean; // the runtime joins the process at a cgroup stage
  cgroupJoin?: Omit<CgroupJoinInput, 'forkInto'>; // or the process enters them itself (cgroup-join.ts)
  process: Process;
  consoleSocket: boolean;
  relayedTerminal?: boolean; // as PlanOptions.relayedTerminal
  seccomp?: Seccomp; // the container's filter applies to every process in it
  setgroupsDenied?: boolean; // the container's user namespace forbids setgroups
  lsmFrom?: LsmSources; // where the labels came from (an exec flag), for errors
}

export function buildExecPlan(
  input: ExecPlanInput,
  host: HostFacts,
): { ops: Op[]; warnings: string[]; seccomp: SeccompRequest | null; cgroupProcsWrite: boolean } {
  const warnings: string[] = [];
  const ops: Op[] = [];
  const p = input.process;
  // Before joining anything: written through the host's procfs, inherited by the process.
  if (p.oomScoreAdj !== undefined)
    ops.push(
      op('OOM_SCORE_ADJ', '/process/oomScoreAdj', { value: p.oomScoreAdj }, { value: String(p.oomScoreAdj) }),
    );
  if (input.joinCgroups)
    ops.push(op('SYNC', '/linux/cgroupsPath', { stage: 'cgroup' }, { stage: STAGE.CGROUP }));
  const join = input.cgroupJoin
    ? planCgroupJoin({ ...input.cgroupJoin, forkInto: !input.namespaces.includes('user') })
    : null;
  if (join) ops.push(...join.first);
  // Made in its cgroup2 directory by a first fork, while still outside every namespace (see
  // cgroup-join.ts); the process the container will see is forked later, from that one.
  if (join?.into) ops.push(op('FORK_INIT', '/linux/cgroupsPath', { into: 'cgroup' }));
  for (const t of JOIN_ORDER) {
    if (!input.namespaces.includes(t)) continue;
    const path = `/proc/${input.initPid}/ns/${PROC_NAME[t]}`;
    ops.push(op('SETNS', '/linux/namespaces', { type: t, path }, { nstype: CLONE[t], path }));
  }
  if (p.terminal) {
    if (!input.consoleSocket) throw new HuskError('/process/terminal: a terminal needs --console-socket');
    ops.push(consoleOp(false, p.user?.uid ?? 0, !!input.relayedTerminal));
  }
  // Inherited across the fork (AppArmor's onexec, SELinux's exec sid), applied at the execve.
  ops.push(...planLsm(p, null, host, input.lsmFrom));
  // Everything that needs the host's procfs, the cgroup directory or the console socket is done:
  // the fork into the pid namespace, where the container can look at the process, comes after
  // every host handle is closed (CVE-2016-9962 class; see seal_host).
  ops.push(op('SEAL', '/linux/namespaces', {}));
  ops.push(op('FORK_INIT', '/linux/namespaces', { into: 'pid namespace' }));
  if (p.terminal) {
    ops.push(op('SETSID', '/process', {}));
    ops.push(op('CTTY', '/process/terminal', {}));
  }
  ops.push(...planRlimits(p));
  ops.push(...planScheduling(p));
  const ident = planIdentityAndExec(p, {
    lastCap: host.lastCap,
    userNs: input.namespaces.includes('user'),
    setgroupsDenied: input.setgroupsDenied,
    warnings,
  });
  const seccomp = planSeccomp(input.seccomp);
  placeSeccomp(ident, seccomp, !!p.noNewPrivileges);
  ops.push(...ident.beforeStart);
  ops.push(op('SYNC', '/process', { stage: 'ready' }, { stage: STAGE.READY }));
  ops.push(...ident.afterStart);
  return { ops, warnings, seccomp, cgroupProcsWrite: input.joinCgroups || !!join?.procs };
}
