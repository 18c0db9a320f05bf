// buildPlan: Spec + host facts → the ordered list of ops husk-init runs, plus what the parent
// does at each sync stage (cgroups, id maps). Pure: no file is touched here.
import { HuskError } from '../errors';
import type { HostFacts } from '../host/probe';
import type { Spec } from '../spec/types';
import { planCgroups, type CgroupPlan, type SystemdDriver } from './cgroups';
import { fitCgroupsToCaller, type CallerAccess } from './cgroup-delegation';
import { joinsItself, planCgroupJoin } from './cgroup-join';
import { checkHooks, hookOps } from './hooks';
import { planBindSources } from './bind-sources';
import { planIdmapTrees } from './idmap-mounts';
import { planLsm } from './lsm';
import { CLONE, hostId, planNamespaces, type NamespacePlan } from './namespaces';
import { planPersonality, planScheduling } from './scheduling';
import { planSysctls } from './sysctl';
import { fieldIndex, fieldOf, MOUNT_KIND, op, STAGE, type Op } from './ops';
import { consoleOp, planIdentityAndExec, planRlimits } from './process';
import { placeSeccomp, planSeccomp, type SeccompRequest } from './seccomp';

export { setSeccompProgram } from './seccomp';
import { planProtections, planRootfs, rootfsPath } from './rootfs';

export interface PlanOptions {
  id: string;
  bundle: string;
  noPivot?: boolean;
  consoleSocket?: boolean;
  // The console socket is husk's own (foreground run): the pty's output goes to the caller as
  // the process wrote it (no ONLCR), as runc sets the pty it relays.
  relayedTerminal?: boolean;
  noNewKeyring?: boolean;
  // Rootless (--rootless): use only the cgroups this caller can use (see cgroup-delegation.ts).
  cgroupAccess?: CallerAccess;
  systemd?: SystemdDriver; // --systemd-cgroup
  // run: the init goes on to the program after the ready stage, with no exec fifo to wait on.
  startAtOnce?: boolean;
  // exec into an existing container joins its namespaces; not used by create.
}

export interface LaunchPlan {
  ops: Op[];
  rootfs: string;
  namespaces: NamespacePlan;
  cgroups: CgroupPlan | null;
  // The init joins its cgroups itself (planCgroupJoin); the runtime only makes and sets them.
  cgroupSelfJoin: boolean;
  // Someone writes cgroup.procs (the runtime, or the init where no other way is open): the
  // kernel's attach lock is taken, and a head start on its wait pays (primeCgroupAttach).
  cgroupProcsWrite: boolean;
  // Compiled by the runtime (libseccomp, in the addon) into the SECCOMP op's program.
  seccomp: SeccompRequest | null;
  warnings: string[];
  notes: string[]; // for --debug
}

const NAMESPACE_HOSTNAME = 'uts';

export function buildPlan(spec: Spec, host: HostFacts, opts: PlanOptions): LaunchPlan {
  const warnings: string[] = [];
  const ns = planNamespaces(spec);
  // Not silently ignored: husk has no resctrl support, so a config asking for it is refused.
  if ((spec.linux as Record<string, unknown> | undefined)?.intelRdt)
    throw new HuskError('/linux/intelRdt: Intel RDT (resctrl) is not supported by husk');
  // No mount namespace listed: the container shares the runtime's (the spec: an unlisted type is
  // inherited), as under runc, which then mounts in it and chroots. husk does the same but keeps
  // the runtime's root as it is (runc makes it rslave) and detaches the container's mounts at
  // delete (runc leaves them); masks need a mount namespace of the container's own (runc agrees).
  const mountNs = ns.has.has('mount');
  if (!mountNs)
    for (const k of ['maskedPaths', 'readonlyPaths'] as const)
      if (spec.linux?.[k]?.length)
        throw new HuskError(
          `/linux/${k}: masked and read-only paths need a mount namespace of the container's own (linux.namespaces has none)`,
        );
  // Without root, every namespace and mount needs the privileges of a user namespace's root.
  if (host.euid !== 0 && !ns.has.has('user'))
    throw new HuskError(
      `/linux/namespaces: running as uid ${host.euid} (not root) needs a user namespace (type "user", with uidMappings and gidMappings; see \`husk spec --rootless\`)`,
    );
  const notes: string[] = [];
  let cgroups = planCgroups(spec, host, opts.id, opts.systemd);
  if (cgroups) warnings.push(...cgroups.warnings);
  if (cgroups && opts.cgroupAccess) {
    const fitted = fitCgroupsToCaller(cgroups, opts.cgroupAccess, spec.linux?.cgroupsPath || undefined);
    cgroups = fitted.plan;
    warnings.push(...fitted.warnings);
    notes.push(...fitted.notes);
  }
  const rootfs = rootfsPath(spec, opts.bundle);
  const linux = spec.linux ?? {};
  const userNs = ns.has.has('user');
  const rootUid = hostId(linux.uidMappings, 0);
  const rootGid = hostId(linux.gidMappings, 0);
  const ops: Op[] = [];

  // In the first process: oom score (lowering it needs the host's privileges, so before any
  // user namespace), cgroup, namespaces, then the fork that makes the container's init.
  if (spec.process?.oomScoreAdj !== undefined)
    ops.push(
      op(
        'OOM_SCORE_ADJ',
        '/process/oomScoreAdj',
        { value: spec.process.oomScoreAdj },
        { value: String(spec.process.oomScoreAdj) },
      ),
    );
  // An init joining a pid namespace by path (a pod's shared one) is seen by that namespace's
  // processes from its fork on, and one with CAP_SYS_PTRACE and no user namespace can use its
  // fds, cwd and root, dumpable or not (CVE-2016-9962 class). So its fork comes last: the first
  // process makes the whole rootfs and pivots, then closes every host handle (SEAL), and the
  // init mounts its procfs itself (a procfs is tied to the pid namespace of whoever makes it).
  // A new pid namespace has nobody in it to look: there the fork stays first.
  const lateFork = ns.join.some((o) => o.show.type === 'pid');
  const cgJoin = initCgroupJoin(cgroups, ns, host, !!opts.cgroupAccess, lateFork);
  const cgroupSync = cgroups
    ? [op('SYNC', '/linux/cgroupsPath', { stage: 'cgroup', dirs: cgroups.dirs }, { stage: STAGE.CGROUP })]
    : [];
  // Idmapped trees need the host's privileges over their source: before any namespace. Then
  // join every namespace given by path while still the host's root (a namespace owned by the
  // host cannot be joined from a new user namespace), then make the new user namespace, as runc.
  const sources = planBindSources(spec, opts.bundle, userNs);
  const nsOps = [...planIdmapTrees(spec, opts.bundle), ...sources.helper, ...ns.join];
  if (ns.newUser) nsOps.push(op('USERNS', '/linux/uidMappings', { uidMap: ns.uidMap, gidMap: ns.gidMap }));
  const unshare = (flags: number) =>
    flags ? [op('UNSHARE', '/linux/namespaces', { flags }, { flags })] : [];
  const unshareFlags = ns.newFlags & ~cgJoin.childUnshares;
  if (cgroups && namespacesBeforeCgroups(ns)) {
    // The namespaces (the network one alone takes about 1 ms to make) are made while the
    // runtime still makes and fills the cgroups, instead of after; crun too makes them before
    // the cgroup join. Their kernel memory is then charged to the runtime's cgroup, not the
    // container's. The cgroup namespace's root is the cgroup it is made in: it waits for the join.
    const late = unshareFlags & CLONE.cgroup;
    ops.push(...nsOps, ...unshare(unshareFlags & ~late), ...cgroupSync, ...cgJoin.first, ...unshare(late));
  } else {
    ops.push(...cgroupSync, ...cgJoin.first, ...nsOps, ...unshare(unshareFlags));
  }
  ops.push(...sources.fds);
  if (!lateFork) ops.push(op('FORK_INIT', '/linux/namespaces', {}));
  // The cgroup namespace is made by the init once it is in its cgroup2 directory (runc makes it
  // there too): its root is the cgroup the namespace is made in.
  if (cgJoin.childUnshares)
    ops.push(
      op('UNSHARE', '/linux/namespaces', { flags: cgJoin.childUnshares }, { flags: cgJoin.childUnshares }),
    );

  // In the container's init (with lateFork, in the first process until the fork).
  if (!lateFork) ops.push(op('SETSID', '/process', {}));
  if (!opts.noNewKeyring)
    ops.push(op('SESSION_KEYRING', '/process', { name: `_ses.${opts.id}` }, { name: `_ses.${opts.id}` }));
  checkHooks(spec);
  const rootfsOps = planRootfs(spec, {
    bundle: opts.bundle,
    host,
    cgroups,
    cgroupNs: ns.has.has('cgroup'),
    userNs,
    noPivot: !!opts.noPivot,
    mountNs,
    rootUid: rootUid < 0 ? 0 : rootUid,
    rootGid: rootGid < 0 ? 0 : rootGid,
  });
  // Hooks around pivot_root: the runtime's (prestart, createRuntime), then the container's.
  const beforePivot: Op[] = [];
  const hooks = spec.hooks ?? {};
  if (hooks.prestart?.length || hooks.createRuntime?.length)
    beforePivot.push(
      op('SYNC', '/hooks/createRuntime', { stage: 'createRuntime' }, { stage: STAGE.CREATE_RUNTIME }),
    );
  if (hooks.createContainer?.length) {
    beforePivot.push(
      op(
        'FETCH_STATE',
        '/hooks/createContainer',
        { stage: 'createContainer' },
        { stage: STAGE.CREATE_CONTAINER },
      ),
    );
    beforePivot.push(...hookOps(spec, 'createContainer'));
  }
  const late = lateFork ? takeProcMounts(rootfsOps) : [];
  const pivotAt = rootfsOps.findIndex((o) => o.op === 'PIVOT_ROOT');
  rootfsOps.splice(pivotAt, 0, ...beforePivot);
  ops.push(...rootfsOps);
  // In a mount namespace of its own, stdio that is the host's /dev/null becomes the container's
  // (criu dumps only fds on the container's mounts); a shared one has the host's anyway.
  if (mountNs) ops.push(op('REOPEN_DEV_NULL', '/linux/devices (defaults)', {}));
  if (spec.hostname !== undefined && spec.hostname !== '') {
    if (!ns.has.has(NAMESPACE_HOSTNAME))
      throw new HuskError('/hostname: setting a hostname needs a uts namespace');
    ops.push(op('HOSTNAME', '/hostname', { hostname: spec.hostname }, { name: spec.hostname }));
  }
  if (spec.domainname !== undefined && spec.domainname !== '') {
    if (!ns.has.has(NAMESPACE_HOSTNAME))
      throw new HuskError('/domainname: setting a domainname needs a uts namespace');
    ops.push(op('DOMAINNAME', '/domainname', { domainname: spec.domainname }, { name: spec.domainname }));
  }
  ops.push(...planSysctls(linux.sysctl, ns.has));
  if (spec.process?.terminal) {
    if (!opts.consoleSocket) throw new HuskError('/process/terminal: a terminal needs --console-socket');
    ops.push(consoleOp(true, spec.process.user?.uid ?? 0, !!opts.relayedTerminal));
    if (!lateFork) ops.push(op('CTTY', '/process/terminal', {}));
  }
  const protections = planProtections(spec);
  const underProc = (o: Op) =>
    isUnderProc(String(fieldOf(o, 'READONLY_PATH', 'path') ?? fieldOf(o, 'MASK_PATH', 'path') ?? ''));
  ops.push(...(lateFork ? protections.filter((o) => !underProc(o)) : protections));
  const lsm = planLsm(spec.process, spec, host);
  if (lateFork) {
    // AppArmor's onexec and SELinux's exec sid are inherited across the fork.
    ops.push(...lsm, op('SEAL', '/linux/namespaces', {}), op('FORK_INIT', '/linux/namespaces', {}));
    ops.push(op('SETSID', '/process', {}));
    if (spec.process?.terminal) ops.push(op('CTTY', '/process/terminal', {}));
    ops.push(...late, ...protections.filter(underProc));
  }
  ops.push(...planRlimits(spec.process));
  ops.push(...planScheduling(spec.process));
  ops.push(...planPersonality(spec));
  const gm = linux.gidMappings ?? [];
  const setgroupsDenied =
    !!host.setgroupsDenied ||
    (host.euid !== 0 && ns.newUser && gm.length === 1 && gm[0].size === 1 && gm[0].hostID === host.egid);
  const proc = planIdentityAndExec(spec.process, {
    lastCap: host.lastCap,
    userNs,
    setgroupsDenied,
    warnings,
  });
  const seccomp = planSeccomp(linux.seccomp);
  placeSeccomp(proc, seccomp, !!spec.process?.noNewPrivileges);
  // LSM exec labels are written before the cwd change, which closes husk-init's procfs handle;
  // they take effect at the next execve.
  if (!lateFork) proc.beforeStart.unshift(...lsm);
  ops.push(...proc.beforeStart);
  const startHooks = hookOps(spec, 'startContainer');
  // run with nothing to do at start: the runtime answers the ready stage early, as soon as it has
  // the init's pid (and forwards signals), so the init goes on to the program at once while the
  // runtime records it. Only where nothing else waits for an answer from then on (hooks, the
  // seccomp agent), or the early answer would be taken for theirs.
  const fork = ops.findIndex((o) => o.op === 'FORK_INIT');
  const answered = ops.slice(fork).some((o) => o.op === 'SYNC' || o.op === 'FETCH_STATE') || seccomp?.notify;
  const ready = startHooks.length ? 'FETCH_STATE' : opts.startAtOnce && !answered ? 'NOTIFY' : 'SYNC';
  ops.push(op(ready, '/process', { stage: 'ready' }, { stage: STAGE.READY }));
  if (!opts.startAtOnce) ops.push(op('WAIT_START', '/process', {}));
  // startContainer hooks run under the container's seccomp filter, as runc's do: with
  // no_new_privs the filter, else loaded just before execve, is loaded before the hooks.
  const filterAt = startHooks.length ? proc.afterStart.findIndex((o) => o.op === 'SECCOMP') : -1;
  if (filterAt >= 0) ops.push(...proc.afterStart.splice(filterAt, 1));
  ops.push(...startHooks);
  if (startHooks.length && !opts.startAtOnce) ops.push(op('START_HOOKS_PASSED', '/hooks/startContainer', {}));
  ops.push(...proc.afterStart);
  return {
    ops,
    rootfs,
    namespaces: ns,
    cgroups,
    cgroupSelfJoin: cgJoin.self,
    cgroupProcsWrite: cgJoin.procs,
    seccomp,
    warnings,
    notes,
  };
}

// Made before the cgroup stage only where that changes nothing the cgroup join or the id maps
// see: a new user namespace waits for the runtime's maps (and the cgroup join is the runtime's
// then), and a mount namespace joined by path would change what the cgroup paths resolve to.
function namespacesBeforeCgroups(ns: NamespacePlan): boolean {
  if (ns.newUser) return false;
  return !ns.join.some((o) => ['mount', 'user', 'cgroup'].includes(o.show.type as string));
}

// The init enters its cgroups itself (see cgroup-join.ts) as root with the cgroupfs driver;
// systemd puts it in its unit, and rootless cgroups are joined by the runtime.
function initCgroupJoin(
  cgroups: CgroupPlan | null,
  ns: NamespacePlan,
  host: HostFacts,
  rootless: boolean,
  lateFork: boolean,
): { self: boolean; procs: boolean; first: Op[]; childUnshares: number } {
  if (!cgroups || !joinsItself(host, rootless, !!cgroups.systemd))
    return { self: false, procs: !!cgroups, first: [], childUnshares: 0 };
  const cgroupNsByPath = ns.join.some((o) => o.show.type === 'cgroup');
  const join = planCgroupJoin({
    v1Dirs: cgroups.v1.map((h) => h.dir),
    unifiedDir: cgroups.unifiedDir,
    // A late fork must not hold the cgroup2 directory fd CLONE_INTO_CGROUP needs.
    forkInto: !ns.has.has('user') && !cgroupNsByPath && !lateFork,
  });
  // Made in its cgroup2 directory, the init makes its cgroup namespace itself (as runc's does):
  // the namespace's root is the cgroup it is made in.
  const childUnshares = join.into ? ns.newFlags & CLONE.cgroup : 0;
  return { self: true, procs: join.procs, first: join.first, childUnshares };
}

const isUnderProc = (p: string) => p === '/proc' || p.startsWith('/proc/');

// With a late fork (see lateFork): the procfs mount leaves the rootfs ops, to be made by the init
// itself (MOUNT_KIND.PROC_HERE, no host handle needed); a mount below /proc would have to come after it
// from a host source the init can no longer reach, so it is refused.
function takeProcMounts(rootfsOps: Op[]): Op[] {
  const late: Op[] = [];
  for (let i = 0; i < rootfsOps.length; i++) {
    const o = rootfsOps[i];
    if (o.op !== 'MOUNT') continue;
    const dest = String(fieldOf(o, 'MOUNT', 'dest'));
    if (!isUnderProc(dest)) continue;
    if (dest !== '/proc')
      throw new HuskError(
        `${o.from}/destination: ${dest}: a mount under /proc is not supported in a container that joins another's pid namespace`,
      );
    late.push({
      ...o,
      show: { ...o.show, by: 'the init, in the joined pid namespace' },
      fields: o.fields.map((f, k) => (k === fieldIndex('MOUNT', 'kind') ? { u32: MOUNT_KIND.PROC_HERE } : f)),
    });
    rootfsOps.splice(i--, 1);
  }
  return late;
}
