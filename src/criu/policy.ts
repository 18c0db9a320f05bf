// What criu is told about a container, decided from its config as runc decides it: which
// mounts are external (every bind mount, the masked files bound from /dev/null), which
// namespaces were joined by path, criu's config file, the options shared by dump and restore.
import fs = require('node:fs');
import path = require('node:path');
import { HuskError } from '../errors';
import type { Spec } from '../spec/types';
import { resolveInRoot } from './in-root';
import { CG_MODE, type CriuOpts } from './rpc';

export interface CriuFlags {
  criu: string;
  imagePath: string;
  workPath: string;
  tcpEstablished?: boolean;
  extUnixSk?: boolean;
  shellJob?: boolean;
  fileLocks?: boolean;
  manageCgroupsMode?: string;
  emptyNs?: string[];
  autoDedup?: boolean;
  lazyPages?: boolean;
  statusFd?: number;
}

// The images and work directories are given as fds of OUR process: criu opens them through
// /proc/<peer>/fd/N, the peer being whoever made its socket. Fds criu itself inherits (the
// namespace files) start at 4, after its socket.
export const FIRST_EXTRA_FD = 4;

const NS_FLAGS: Record<string, number> = {
  mount: 0x00020000,
  cgroup: 0x02000000,
  uts: 0x04000000,
  ipc: 0x08000000,
  user: 0x10000000,
  pid: 0x20000000,
  network: 0x40000000,
};

export function emptyNsMask(types: string[] = []): number {
  let mask = 0;
  for (const t of types.flatMap((s) => s.split(',')).filter(Boolean)) {
    const f = NS_FLAGS[t === 'net' ? 'network' : t];
    if (!f) throw new HuskError(`--empty-ns ${t}: not a namespace type (network, ipc, uts, ...)`);
    mask |= f;
  }
  // runc allows only the network namespace to be left empty.
  if (mask & ~NS_FLAGS.network) throw new HuskError('--empty-ns: only network can be left empty');
  return mask;
}

export function cgroupsMode(flag: string | undefined): number | undefined {
  if (flag === undefined || flag === '') return undefined;
  const m = CG_MODE[flag];
  if (m === undefined)
    throw new HuskError(`--manage-cgroups-mode ${flag}: expected soft, full, strict or ignore`);
  return m;
}

// Options dump and restore share.
export function commonOpts(
  f: CriuFlags,
  spec: Spec,
  logFile: string,
  dirs: { images: number; work: number },
): CriuOpts {
  const o: CriuOpts = {
    images_dir_fd: dirs.images,
    work_dir_fd: dirs.work,
    log_level: 4,
    log_file: logFile,
    manage_cgroups: true,
    notify_scripts: true,
    orphan_pts_master: true,
  };
  if (f.tcpEstablished) o.tcp_established = true;
  if (f.extUnixSk) o.ext_unix_sk = true;
  if (f.shellJob) o.shell_job = true;
  if (f.fileLocks) o.file_locks = true;
  if (f.autoDedup) o.auto_dedup = true;
  if (f.lazyPages) o.lazy_pages = true;
  const mode = cgroupsMode(f.manageCgroupsMode);
  if (mode !== undefined) o.manage_cgroups_mode = mode;
  const empty = emptyNsMask(f.emptyNs);
  if (empty) o.empty_ns = empty;
  const conf = criuConfigFile(spec);
  if (conf) o.config_file = conf;
  return o;
}

// The org.criu.config annotation names criu's config file ('' for none); without it runc's
// default, /etc/criu/runc.conf, where it exists (engines and admins already write that one).
export function criuConfigFile(spec: Spec): string | undefined {
  const a = spec.annotations?.['org.criu.config'];
  if (a !== undefined) return a || undefined;
  return fs.existsSync('/etc/criu/runc.conf') ? '/etc/criu/runc.conf' : undefined;
}

// The cgroup mounts husk makes as a bind of the host's cgroup2 hierarchy: every cgroup mount of
// a config without a cgroup namespace of its own, on a pure cgroup v2 host.
export function cgroupBinds(spec: Spec, v2: boolean): boolean {
  return v2 && !(spec.linux?.namespaces ?? []).some((n) => n.type === 'cgroup');
}

function cgroupDestinations(spec: Spec): string[] {
  return (spec.mounts ?? [])
    .filter((m) => m.type === 'cgroup' || m.type === 'cgroup2')
    .map((m) => m.destination);
}

function isBind(m: { type?: string; options?: string[] }): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

// Dump: each bind mount is external, named by its destination as resolved in the rootfs; each
// masked file (a bind of /dev/null) is external as /dev/null. `pid` is the init's, to tell
// masked files from masked directories (a read-only tmpfs, which criu dumps itself).
export function dumpMounts(
  spec: Spec,
  pid: number,
  rootfs: string,
  cgroupBind = false,
): { key: string; val: string }[] {
  const out: { key: string; val: string }[] = [];
  const named = (d: string) => {
    const key = resolveInRoot(rootfs, d);
    out.push({ key, val: key });
  };
  for (const m of spec.mounts ?? []) if (isBind(m)) named(m.destination);
  // Without a cgroup namespace husk binds the container's own cgroup2 directory there (a slave
  // of the host's mount, which criu cannot reach): external too, mapped to the new one on restore.
  if (cgroupBind) for (const d of cgroupDestinations(spec)) named(d);
  for (const p of spec.linux?.maskedPaths ?? []) {
    let st: fs.Stats;
    try {
      st = fs.statSync(`/proc/${pid}/root${p}`);
    } catch {
      continue; // not there: nothing was mounted
    }
    if (!st.isDirectory()) out.push({ key: p, val: '/dev/null' });
  }
  return out;
}

// Restore: the same names (resolved in this rootfs) mapped back to the sources in this config.
export function restoreMounts(
  spec: Spec,
  bundle: string,
  rootfs: string,
  cgroupDir?: string,
): { key: string; val: string }[] {
  const out: { key: string; val: string }[] = [];
  for (const m of spec.mounts ?? [])
    if (isBind(m))
      out.push({ key: resolveInRoot(rootfs, m.destination), val: path.resolve(bundle, m.source ?? '') });
  if (cgroupDir)
    for (const d of cgroupDestinations(spec)) out.push({ key: resolveInRoot(rootfs, d), val: cgroupDir });
  if (spec.linux?.maskedPaths?.length) out.push({ key: '/dev/null', val: '/dev/null' });
  return out;
}

// Namespaces the container joined by path that criu must leave alone: runc's keys.
const EXTERNAL_NS: Record<string, { criu: string; key: string }> = {
  network: { criu: 'net', key: 'extRootNetNS' },
  pid: { criu: 'pid', key: 'extRootPidNS' },
};

export function dumpExternalNamespaces(spec: Spec): string[] {
  const out: string[] = [];
  for (const n of spec.linux?.namespaces ?? []) {
    const ext = EXTERNAL_NS[n.type];
    if (!ext || !n.path) continue;
    let ino: number;
    try {
      ino = fs.statSync(n.path).ino;
    } catch (e) {
      throw new HuskError(`/linux/namespaces: ${n.type} namespace ${n.path}: ${(e as Error).message}`);
    }
    out.push(`${ext.criu}[${ino}]:${ext.key}`);
  }
  return out;
}

// Restore: the joined namespaces, opened, to be given to criu as inherited fds under runc's keys.
export function restoreNamespaces(spec: Spec): { key: string; path: string }[] {
  return (spec.linux?.namespaces ?? [])
    .filter((n) => EXTERNAL_NS[n.type] && n.path)
    .map((n) => ({ key: EXTERNAL_NS[n.type].key, path: n.path! }));
}

// descriptors.json: the link targets of the init's fds 0-2, as runc writes it; on restore each
// pipe among them is reattached to the restoring caller's fd of that number (engines pass their
// own stdio pipes).
export function readDescriptors(pid: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < 3; i++) {
    try {
      out.push(fs.readlinkSync(`/proc/${pid}/fd/${i}`));
    } catch {
      out.push('');
    }
  }
  return out;
}

export function inheritedStdio(descriptors: string[]): { key: string; fd: number }[] {
  return descriptors.flatMap((d, fd) => (d.includes('pipe:') ? [{ key: d, fd }] : []));
}
