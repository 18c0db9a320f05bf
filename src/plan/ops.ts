// Op codes and stages shared with addon/common/protocol.h; keep the numbers in step.
export const OP = {
  SYNC: 1,
  SETNS: 2,
  USERNS: 3,
  UNSHARE: 4,
  FORK_INIT: 5,
  ROOT_PROPAGATION: 6,
  BIND_ROOTFS: 7,
  MOUNT: 8,
  MKNOD: 9,
  SYMLINK: 10,
  PIVOT_ROOT: 11,
  READONLY_PATH: 12,
  MASK_PATH: 13,
  HOSTNAME: 14,
  DOMAINNAME: 15,
  SYSCTL: 16,
  RLIMIT: 17,
  CONSOLE: 18,
  SETSID: 19,
  CREDS: 20,
  CAPS_BOUNDING: 21,
  CAPS_SET: 22,
  NO_NEW_PRIVS: 23,
  UMASK: 24,
  CHDIR: 25,
  WAIT_START: 26,
  LOOKUP_EXEC: 27,
  EXEC: 28,
  OOM_SCORE_ADJ: 29,
  PROPAGATION: 30,
  KEEP_CAPS: 31,
  SECCOMP: 32,
  PERSONALITY: 33,
  MOUNT_CGROUP_V1: 34,
  FETCH_STATE: 35,
  HOOK: 36,
  SESSION_KEYRING: 37,
  IOPRIO: 38,
  SCHEDULER: 39,
  PROC_WRITE: 40,
  IDMAP_TREE: 41,
  JOIN_CGROUP: 42,
  CGROUP_INTO: 43,
  NOTIFY: 44,
  SEAL: 45,
  CTTY: 46,
  SOURCE_HELPER: 50,
  SOURCE_FDS: 51,
} as const;

export const STAGE = { CGROUP: 1, USERMAP: 2, CREATE_RUNTIME: 3, CREATE_CONTAINER: 4, READY: 10 } as const;
export const MSG = { SYNC: 1, PID: 2, ERROR: 3, SECCOMP_FD: 4, ACK: 16, ABORT: 17 } as const;

export type OpName = keyof typeof OP;

// A field of an op body as the encoder writes it: u32, u64 (bigint or number), string, string
// list, u32 list, raw bytes.
export type Field =
  | { u32: number }
  | { u64: bigint | number }
  | { str: string }
  | { strv: string[] }
  | { u32v: number[] }
  | { bytes: Uint8Array };

export interface Op {
  op: OpName;
  // The config entry this op comes from, as a JSON pointer, so a failure names it.
  from: string;
  // What a reader of `husk plan` sees; the encoder ignores it.
  show: Record<string, unknown>;
  fields: Field[];
}

export function op(name: OpName, from: string, show: Record<string, unknown>, fields: Field[] = []): Op {
  return { op: name, from, show, fields };
}
