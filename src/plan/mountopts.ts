// Mount option strings to mount(2) flags, as runc and crun read them: flags that set, flags
// that clear, propagation (applied by a separate call), and the rest passed on as fs data.
import { HuskError } from '../errors';

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

// Options runc accepts that change how husk mounts rather than what mount(2) gets.
const HANDLED_ELSEWHERE = new Set(['tmpcopyup', 'idmap', 'ridmap']);

// Every option name husk gives a meaning to (for `husk features`).
export function knownMountOptions(): string[] {
  return [
    ...Object.keys(SET),
    ...Object.keys(CLEAR),
    ...Object.keys(PROPAGATION),
    ...HANDLED_ELSEWHERE,
  ].sort();
}

export interface ParsedOptions {
  flags: number;
  propagation: number;
  data: string[];
  bind: boolean;
  recursive: boolean;
}

export function parseMountOptions(options: string[] = [], where = '/mounts'): ParsedOptions {
  let flags = 0;
  let propagation = 0;
  const data: string[] = [];
  options.forEach((opt, i) => {
    if (Object.hasOwn(SET, opt)) flags |= SET[opt];
    else if (Object.hasOwn(CLEAR, opt)) flags &= ~CLEAR[opt];
    else if (Object.hasOwn(PROPAGATION, opt)) propagation = PROPAGATION[opt];
    else if (HANDLED_ELSEWHERE.has(opt)) return;
    else if (/^r(ro|rw|nosuid|suid|nodev|dev|noexec|exec|atime|noatime)$/.test(opt))
      throw new HuskError(`${where}/options/${i}: recursive mount attribute "${opt}" is not supported yet`);
    else data.push(opt);
  });
  return {
    flags,
    propagation,
    data,
    bind: (flags & MS.BIND) !== 0,
    recursive: (flags & MS.REC) !== 0,
  };
}
