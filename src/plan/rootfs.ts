// The container's filesystem: propagation, the rootfs bind, mounts[] in order (cgroup mounts
// per host layout), /dev, pivot_root, and the masked and read-only paths.
import path = require('node:path');
import { HuskError } from '../errors';
import type { HostFacts } from '../host/probe';
import type { Spec } from '../spec/types';
import type { CgroupPlan } from './cgroups';
import { planDevices } from './devices';
import { sourceSlots } from './bind-sources';
import { idmapOf } from './idmap-mounts';
import { MS, PROPAGATION, parseMountOptions } from './mountopts';
import { MOUNT_KIND, op, PIVOT_MODE, TMPFS_OPT, type Op } from './ops';

export interface RootfsContext {
  bundle: string;
  host: HostFacts;
  cgroups: CgroupPlan | null;
  cgroupNs: boolean;
  userNs: boolean;
  noPivot: boolean;
  mountNs?: boolean; // false: the runtime's mount namespace is shared (chroot, no propagation change)
  rootUid: number;
  rootGid: number;
}

export function rootfsPath(spec: Spec, bundle: string): string {
  if (!spec.root?.path) throw new HuskError('/root/path: is required on Linux');
  return path.resolve(bundle, spec.root.path);
}

function checkDestination(dest: string, _from: string): string {
  if (!dest.startsWith('/')) {
    // runc accepts relative destinations as relative to /; the spec asks for absolute ones.
    dest = '/' + dest;
  }
  const norm = path.posix.normalize(dest);
  return norm.length > 1 ? norm.replace(/\/+$/, '') : norm;
}

// Files under /proc that may be mounted over (what lxcfs provides), as runc allows; any other
// mount under /proc could hide or redirect what the masks and the runtime's procfs writes rely on.
const PROC_OVERLAYS = new Set([
  '/proc/cpuinfo',
  '/proc/diskstats',
  '/proc/meminfo',
  '/proc/stat',
  '/proc/swaps',
  '/proc/uptime',
  '/proc/loadavg',
  '/proc/slabinfo',
  '/proc/sys/kernel/ns_last_pid',
]);

function checkProcMount(dest: string, type: string, from: string, pidNs: boolean): void {
  if (dest === '/proc') {
    // Without a pid namespace of its own a container may share the host's /proc (as runc
    // allows): a bind whose source husk-init checks is a procfs.
    if (type === 'bind' && !pidNs) return;
    if (type !== 'proc')
      throw new HuskError(`${from}: only a proc filesystem may be mounted at /proc (got ${type || 'bind'})`);
    return;
  }
  if (dest.startsWith('/proc/') && !PROC_OVERLAYS.has(dest))
    throw new HuskError(
      `${from}/destination: ${dest} is under /proc, where only lxcfs-style files may be mounted`,
    );
}

// cgroup2 without a cgroup namespace of the container's own: a bind of the host's hierarchy, as
// runc falls back to. A fresh cgroup2 mount would show the same tree from its root, but the
// kernel refuses it to a caller in a user namespace (rootless podman's husk runs in one) that
// does not own the cgroup namespace. The container's own directory when it has one; else the
// hierarchy's root, read-only whatever the config says: none of it is the container's.
function unifiedBind(
  own: string | null | undefined,
  hostRoot: string,
  dest: string,
  flags: number,
  from: string,
): Op {
  const source = own ?? hostRoot;
  const remount = MS.BIND | flags | (own ? 0 : MS.RDONLY);
  return op(
    'MOUNT',
    from,
    { type: 'bind', source, dest, ...(own ? {} : { note: 'the host hierarchy, read-only' }) },
    { kind: MOUNT_KIND.BIND, source, dest, fstype: '', flags: MS.BIND | MS.REC, prop: 0, data: '', remount },
  );
}

// A recursive bind made earlier in the config (a rootless spec's "/sys" rbind: no network
// namespace of its own, so no sysfs mount) that brings the host's cgroup2 mount to `dest`.
// The kernel refuses a cgroup2 mount right on top of one of the same filesystem (EBUSY), so a
// tmpfs goes in between first, as crun does; the fresh mount then shows the namespace's tree.
function hostCgroup2At(dest: string, rbinds: { source: string; dest: string }[], unified: string | null) {
  if (!unified) return false;
  return rbinds.some((b) => {
    const rel = path.posix.relative(b.source, unified);
    return !rel.startsWith('..') && !path.posix.isAbsolute(rel) && path.posix.join(b.dest, rel) === dest;
  });
}

// A mode 0755 tmpfs at /sys/fs/cgroup, with the cgroup mount's nosuid/nodev/noexec/relatime.
function cgroupTmpfs(dest: string, flags: number, from: string, note: string): Op {
  return op(
    'MOUNT',
    from,
    { type: 'tmpfs', dest, note },
    {
      kind: MOUNT_KIND.FS,
      source: 'tmpfs',
      dest,
      fstype: 'tmpfs',
      flags,
      prop: 0,
      data: 'mode=755',
      remount: 0,
    },
  );
}

function planCgroupMount(
  dest: string,
  flags: number,
  from: string,
  ctx: RootfsContext,
  rbinds: { source: string; dest: string }[] = [],
): Op[] {
  const ops: Op[] = [];
  const ro = flags & MS.RDONLY;
  const base = flags & (MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RELATIME);
  if (ctx.host.cgroupMode === 'v2') {
    if (ctx.cgroupNs || (!ctx.cgroups?.unifiedDir && !ctx.host.unified)) {
      if (hostCgroup2At(dest, rbinds, ctx.host.unified))
        ops.push(cgroupTmpfs(dest, base, from, "covers the host's cgroup2 the /sys bind brought"));
      ops.push(
        op(
          'MOUNT',
          from,
          { type: 'cgroup2', dest },
          {
            kind: MOUNT_KIND.FS,
            source: 'cgroup2',
            dest,
            fstype: 'cgroup2',
            flags,
            prop: 0,
            data: '',
            remount: 0,
          },
        ),
      );
      return ops;
    }
    return [unifiedBind(ctx.cgroups?.unifiedDir, ctx.host.unified ?? '', dest, flags, from)];
  }
  ops.push(cgroupTmpfs(dest, base, from, 'holds the cgroup v1 hierarchies'));
  for (const h of ctx.host.v1) {
    const name = h.controllers.join(',').replace(/^name=/, '');
    const sub = path.posix.join(dest, name);
    // A hierarchy the container has no directory in (rootless, not delegated) is seen from its root.
    const own = ctx.cgroups?.v1.some((x) => x.mountpoint === h.mountpoint);
    const hostDir = ctx.cgroupNs ? '' : path.posix.join(h.mountpoint, own ? ctx.cgroups!.relPath : '/');
    ops.push(
      op(
        'MOUNT_CGROUP_V1',
        from,
        { dest: sub, controllers: h.controllers, bind: hostDir || undefined },
        { dest: sub, options: h.controllers.join(','), hostdir: hostDir, flags: base | ro },
      ),
    );
    if (h.controllers.length > 1)
      for (const c of h.controllers)
        ops.push(
          op(
            'SYMLINK',
            from,
            { target: name, link: path.posix.join(dest, c) },
            { target: name, linkpath: path.posix.join(dest, c) },
          ),
        );
  }
  if (ctx.host.unified && ctx.host.cgroupMode === 'hybrid') {
    const sub = path.posix.join(dest, 'unified');
    const dir = ctx.cgroups?.unifiedDir;
    ops.push(
      ctx.cgroupNs
        ? op(
            'MOUNT',
            from,
            { type: 'cgroup2', dest: sub },
            {
              kind: MOUNT_KIND.FS,
              source: 'cgroup2',
              dest: sub,
              fstype: 'cgroup2',
              flags: base | ro,
              prop: 0,
              data: '',
              remount: 0,
            },
          )
        : unifiedBind(dir, ctx.host.unified, sub, base | ro, from),
    );
  }
  if (ro) ops.push(op('READONLY_PATH', from, { path: dest, remountOnly: true }, { path: dest, isRoot: 1 }));
  return ops;
}

// runc mounts /dev writable whatever its options say, so /dev/pts, /dev/shm and the device
// nodes can be made in it, and makes it read-only last (planProtections).
// The index of the mount that makes /dev read-only, or -1.
function devReadonly(spec: Spec): number {
  let ro = -1;
  (spec.mounts ?? []).forEach((m, i) => {
    if (checkDestination(m.destination, '') === '/dev')
      ro = parseMountOptions(m.options).flags & MS.RDONLY ? i : -1;
  });
  return ro;
}

export function planRootfs(spec: Spec, ctx: RootfsContext): Op[] {
  const ops: Op[] = [];
  const rootfs = rootfsPath(spec, ctx.bundle);
  const propName = spec.linux?.rootfsPropagation;
  let rootProp = MS.SLAVE | MS.REC;
  if (propName) {
    if (!Object.hasOwn(PROPAGATION, propName))
      throw new HuskError(`/linux/rootfsPropagation: unknown propagation "${propName}"`);
    if (PROPAGATION[propName] & MS.PRIVATE) rootProp = PROPAGATION[propName] | MS.REC;
  }
  const shared = ctx.mountNs === false;
  if (!shared)
    ops.push(op('ROOT_PROPAGATION', '/linux/rootfsPropagation', { flags: rootProp }, { flags: rootProp }));
  ops.push(op('BIND_ROOTFS', '/root/path', { rootfs }, { rootfs }));

  const pidNs = (spec.linux?.namespaces ?? []).some((n) => n.type === 'pid');
  const sources = sourceSlots(spec, ctx.userNs);
  let devIsBind = false;
  let idmapSlot = 0;
  // Host source and container destination of each recursive bind so far (planCgroupMount).
  const rbinds: { source: string; dest: string }[] = [];
  (spec.mounts ?? []).forEach((m, i) => {
    const from = `/mounts/${i}`;
    const dest = checkDestination(m.destination, from);
    const o = parseMountOptions(m.options);
    const type = m.type ?? (o.bind ? 'bind' : '');
    checkProcMount(dest, o.bind ? 'bind' : type, from, pidNs);
    if (type === 'cgroup') {
      ops.push(...planCgroupMount(dest, o.flags, from, ctx, rbinds));
      return;
    }
    const bind = o.bind || type === 'bind';
    const idmap = idmapOf(spec, i);
    const recursive = o.attrSet || o.attrClr ? { attrSet: o.attrSet, attrClr: o.attrClr } : undefined;
    if (bind) {
      if (!m.source) throw new HuskError(`${from}/source: a bind mount needs a source`);
      const source = path.resolve(ctx.bundle, m.source);
      if (dest === '/dev') devIsBind = true;
      if (o.flags & MS.REC) rbinds.push({ source, dest });
      const remountFlags = o.flags & ~(MS.BIND | MS.REC | MS.REMOUNT | (dest === '/dev' ? MS.RDONLY : 0));
      ops.push(
        op(
          'MOUNT',
          from,
          {
            type: idmap ? 'bind (idmapped)' : 'bind',
            source,
            dest,
            flags: o.flags,
            propagation: o.propagation,
            ...(recursive ?? {}),
            ...(idmap ? { idmapSlot: idmapSlot } : {}),
            ...(sources.has(i) ? { sourceFd: sources.get(i) } : {}),
          },
          {
            kind: idmap ? MOUNT_KIND.IDMAPPED : MOUNT_KIND.BIND,
            source,
            dest,
            fstype: '',
            flags: o.flags | MS.BIND,
            prop: o.propagation,
            data: '',
            remount: remountFlags ? MS.BIND | remountFlags : 0,
            ...recursive,
            slot: idmap ? idmapSlot : (sources.get(i) ?? 0),
          },
        ),
      );
      if (idmap) idmapSlot++;
      return;
    }
    if (!type) throw new HuskError(`${from}/type: is required for a mount that is not a bind mount`);
    // sysfs in a user namespace may be refused (a network namespace the container does not
    // own): then the host's /sys is bound instead.
    let kind: number = type === 'sysfs' && ctx.userNs ? MOUNT_KIND.SYSFS : MOUNT_KIND.FS;
    let flags = dest === '/dev' ? o.flags & ~MS.RDONLY : o.flags;
    let remount = 0;
    let tmpfsOpts = 0;
    if (type === 'tmpfs') {
      // Mounted writable for the mode and the copy, then made read-only if asked (as runc).
      kind = MOUNT_KIND.TMPFS;
      if (flags & MS.RDONLY) remount = MS.RDONLY;
      flags &= ~MS.RDONLY;
      if (!o.data.some((d) => d.startsWith('mode='))) tmpfsOpts |= TMPFS_OPT.INHERIT_MODE;
      if (o.copyup) tmpfsOpts |= TMPFS_OPT.COPYUP;
    }
    ops.push(
      op(
        'MOUNT',
        from,
        {
          type,
          source: m.source ?? type,
          dest,
          flags: o.flags,
          data: o.data.join(','),
          ...(kind === MOUNT_KIND.SYSFS ? { fallback: 'rbind /sys when refused' } : {}),
          ...(tmpfsOpts & TMPFS_OPT.INHERIT_MODE ? { mode: 'of the covered directory' } : {}),
          ...(tmpfsOpts & TMPFS_OPT.COPYUP ? { copyup: true } : {}),
          ...(remount ? { readonlyAfter: true } : {}),
          ...(recursive ?? {}),
        },
        {
          kind,
          source: m.source ?? type,
          dest,
          fstype: type,
          flags,
          prop: o.propagation,
          data: o.data.join(','),
          remount,
          ...recursive,
          slot: tmpfsOpts,
        },
      ),
    );
  });

  if (!devIsBind)
    ops.push(...planDevices(spec, { kcore: ctx.host.kcore, rootUid: ctx.rootUid, rootGid: ctx.rootGid }));
  ops.push(
    op(
      'SYMLINK',
      '/linux/devices (defaults)',
      { target: 'pts/ptmx', link: '/dev/ptmx' },
      { target: 'pts/ptmx', linkpath: '/dev/ptmx' },
    ),
  );
  const mode = shared ? PIVOT_MODE.CHROOT_ONLY : ctx.noPivot ? PIVOT_MODE.MOVE_CHROOT : PIVOT_MODE.ROOT;
  ops.push(op('PIVOT_ROOT', '/root/path', { noPivot: ctx.noPivot, chrootOnly: shared }, { mode }));
  if (!shared && propName && !(PROPAGATION[propName] & MS.PRIVATE))
    ops.push(
      op(
        'PROPAGATION',
        '/linux/rootfsPropagation',
        { path: '/', flags: PROPAGATION[propName] },
        { path: '/', flags: PROPAGATION[propName] },
      ),
    );
  return ops;
}

// After the console is set up: masks and read-only paths, then the read-only root.
export function planProtections(spec: Spec): Op[] {
  const ops: Op[] = [];
  const dev = devReadonly(spec);
  if (dev >= 0)
    ops.push(
      op('READONLY_PATH', `/mounts/${dev}`, { path: '/dev', remountOnly: true }, { path: '/dev', isRoot: 1 }),
    );
  (spec.linux?.maskedPaths ?? []).forEach((p, i) =>
    ops.push(op('MASK_PATH', `/linux/maskedPaths/${i}`, { path: p }, { path: checkDestination(p, '') })),
  );
  (spec.linux?.readonlyPaths ?? []).forEach((p, i) =>
    ops.push(
      op(
        'READONLY_PATH',
        `/linux/readonlyPaths/${i}`,
        { path: p },
        { path: checkDestination(p, ''), isRoot: 0 },
      ),
    ),
  );
  if (spec.root?.readonly)
    ops.push(op('READONLY_PATH', '/root/readonly', { path: '/' }, { path: '/', isRoot: 1 }));
  return ops;
}
