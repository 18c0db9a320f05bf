// Mount option strings to mount(2) flags, as runc and crun read them: flags that set, flags
// that clear, propagation (applied by a separate call), and the rest passed on as fs data.

export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  SYNCHRONOUS: 16,
  REMOUNT: 32,
  MANDLOCK: 64,
  DIRSYNC: 128,
  NOSYMFOLLOW: 256,
  NOATIME: 1024,
  NODIRATIME: 2048,
  BIND: 4096,
  MOVE: 8192,
  REC: 16384,
  SILENT: 32768,
  UNBINDABLE: 1 << 17,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  SHARED: 1 << 20,
  RELATIME: 1 << 21,
  STRICTATIME: 1 << 24,
  LAZYTIME: 1 << 25,
} as const;

const SET: Record<string, number> = {
  ro: MS.RDONLY,
  nosuid: MS.NOSUID,
  nodev: MS.NODEV,
  noexec: MS.NOEXEC,
  sync: MS.SYNCHRONOUS,
  remount: MS.REMOUNT,
  mand: MS.MANDLOCK,
  dirsync: MS.DIRSYNC,
  nosymfollow: MS.NOSYMFOLLOW,
  noatime: MS.NOATIME,
  nodiratime: MS.NODIRATIME,
  bind: MS.BIND,
  rbind: MS.BIND | MS.REC,
  silent: MS.SILENT,
  relatime: MS.RELATIME,
  strictatime: MS.STRICTATIME,
  lazytime: MS.LAZYTIME,
};

const CLEAR: Record<string, number> = {
  rw: MS.RDONLY,
  suid: MS.NOSUID,
  dev: MS.NODEV,
  exec: MS.NOEXEC,
  async: MS.SYNCHRONOUS,
  nomand: MS.MANDLOCK,
  atime: MS.NOATIME,
  diratime: MS.NODIRATIME,
  norelatime: MS.RELATIME,
  nostrictatime: MS.STRICTATIME,
  nolazytime: MS.LAZYTIME,
  loud: MS.SILENT,
  defaults: 0,
};

export const PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

// mount_setattr(2) attributes, for the recursive options.
export const MOUNT_ATTR = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  ATIME: 0x70, // the atime field: one of RELATIME (0), NOATIME, STRICTATIME
  RELATIME: 0,
  NOATIME: 0x10,
  STRICTATIME: 0x20,
  NODIRATIME: 0x80,
  NOSYMFOLLOW: 0x200000,
} as const;

// The recursive options (runtime-spec config.md "mounts"): [attribute, set it (true) or clear it].
const RECURSIVE: Record<string, [number, boolean]> = {
  rro: [MOUNT_ATTR.RDONLY, true],
  rrw: [MOUNT_ATTR.RDONLY, false],
  rnosuid: [MOUNT_ATTR.NOSUID, true],
  rsuid: [MOUNT_ATTR.NOSUID, false],
  rnodev: [MOUNT_ATTR.NODEV, true],
  rdev: [MOUNT_ATTR.NODEV, false],
  rnoexec: [MOUNT_ATTR.NOEXEC, true],
  rexec: [MOUNT_ATTR.NOEXEC, false],
  rnodiratime: [MOUNT_ATTR.NODIRATIME, true],
  rdiratime: [MOUNT_ATTR.NODIRATIME, false],
  rnosymfollow: [MOUNT_ATTR.NOSYMFOLLOW, true],
  rsymfollow: [MOUNT_ATTR.NOSYMFOLLOW, false],
};

// The atime field takes one value and is always replaced whole (the kernel refuses a partial
// clear): "not noatime" and "not strictatime" are relatime, the default; "not relatime" can
// only mean updating every access time, strictatime.
const RECURSIVE_ATIME: Record<string, number> = {
  rrelatime: MOUNT_ATTR.RELATIME,
  ratime: MOUNT_ATTR.RELATIME,
  rnostrictatime: MOUNT_ATTR.RELATIME,
  rnoatime: MOUNT_ATTR.NOATIME,
  rstrictatime: MOUNT_ATTR.STRICTATIME,
  rnorelatime: MOUNT_ATTR.STRICTATIME,
};

// Options runc accepts that change how husk mounts rather than what mount(2) gets.
const HANDLED_ELSEWHERE = new Set(['tmpcopyup', 'idmap', 'ridmap']);

// Every option name husk gives a meaning to (for `husk features`).
export function knownMountOptions(): string[] {
  return [
    ...Object.keys(SET),
    ...Object.keys(CLEAR),
    ...Object.keys(PROPAGATION),
    ...Object.keys(RECURSIVE),
    ...Object.keys(RECURSIVE_ATIME),
    ...HANDLED_ELSEWHERE,
  ].sort();
}

export interface ParsedOptions {
  flags: number;
  propagation: number;
  data: string[];
  bind: boolean;
  recursive: boolean;
  // mount_setattr(AT_RECURSIVE) after the mount: attributes to set and to clear.
  attrSet: number;
  attrClr: number;
  // idmapped mount asked for: "idmap" (this mount) or "ridmap" (the mounts below too).
  idmap: 'idmap' | 'ridmap' | null;
  // tmpcopyup: a tmpfs gets a copy of the directory it covers.
  copyup: boolean;
}

export function parseMountOptions(options: string[] = []): ParsedOptions {
  let flags = 0;
  let propagation = 0;
  const data: string[] = [];
  let attrSet = 0;
  let attrClr = 0;
  let idmap: ParsedOptions['idmap'] = null;
  // Later options win, as in mount(8).
  options.forEach((opt) => {
    if (Object.hasOwn(SET, opt)) flags |= SET[opt];
    else if (Object.hasOwn(CLEAR, opt)) flags &= ~CLEAR[opt];
    else if (Object.hasOwn(PROPAGATION, opt)) propagation = PROPAGATION[opt];
    else if (Object.hasOwn(RECURSIVE, opt)) {
      const [attr, set] = RECURSIVE[opt];
      attrSet = set ? attrSet | attr : attrSet & ~attr;
      attrClr = set ? attrClr & ~attr : attrClr | attr;
    } else if (Object.hasOwn(RECURSIVE_ATIME, opt)) {
      attrSet = (attrSet & ~MOUNT_ATTR.ATIME) | RECURSIVE_ATIME[opt];
      attrClr |= MOUNT_ATTR.ATIME;
    } else if (opt === 'idmap' || opt === 'ridmap') idmap = opt;
    else if (HANDLED_ELSEWHERE.has(opt)) return;
    else data.push(opt);
  });
  return {
    flags,
    propagation,
    data,
    bind: (flags & MS.BIND) !== 0,
    recursive: (flags & MS.REC) !== 0,
    attrSet,
    attrClr,
    idmap,
    copyup: options.includes('tmpcopyup'),
  };
}
