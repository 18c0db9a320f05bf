// criu's RPC messages (criu/images/rpc.proto, proto2): the field numbers as criu defines them,
// for the fields husk sends or reads.
import { decode, encode, type Schema } from './proto';

export const REQ = {
  DUMP: 1,
  RESTORE: 2,
  CHECK: 3,
  PRE_DUMP: 4,
  NOTIFY: 6,
  FEATURE_CHECK: 9,
  VERSION: 10,
} as const;

// criu_cg_mode
export const CG_MODE: Record<string, number> = { ignore: 0, soft: 3, full: 4, strict: 5 };

const pageServerInfo: Schema = {
  address: { n: 1, t: 'string' },
  port: { n: 2, t: 'int32' },
  pid: { n: 3, t: 'int32' },
  fd: { n: 4, t: 'int32' },
};
const extMountMap: Schema = { key: { n: 1, t: 'string' }, val: { n: 2, t: 'string' } };
const joinNamespace: Schema = {
  ns: { n: 1, t: 'string' },
  ns_file: { n: 2, t: 'string' },
  extra_opt: { n: 3, t: 'string' },
};
const inheritFd: Schema = { key: { n: 1, t: 'string' }, fd: { n: 2, t: 'int32' } };
const cgroupRoot: Schema = { ctrl: { n: 1, t: 'string' }, path: { n: 2, t: 'string' } };

const opts: Schema = {
  images_dir_fd: { n: 1, t: 'int32' },
  pid: { n: 2, t: 'int32' },
  leave_running: { n: 3, t: 'bool' },
  ext_unix_sk: { n: 4, t: 'bool' },
  tcp_established: { n: 5, t: 'bool' },
  shell_job: { n: 7, t: 'bool' },
  file_locks: { n: 8, t: 'bool' },
  log_level: { n: 9, t: 'int32' },
  log_file: { n: 10, t: 'string' },
  ps: { n: 11, t: 'message', msg: pageServerInfo },
  notify_scripts: { n: 12, t: 'bool' },
  root: { n: 13, t: 'string' },
  parent_img: { n: 14, t: 'string' },
  track_mem: { n: 15, t: 'bool' },
  auto_dedup: { n: 16, t: 'bool' },
  work_dir_fd: { n: 17, t: 'int32' },
  link_remap: { n: 18, t: 'bool' },
  ext_mnt: { n: 23, t: 'message', repeated: true, msg: extMountMap },
  manage_cgroups: { n: 24, t: 'bool' },
  cg_root: { n: 25, t: 'message', repeated: true, msg: cgroupRoot },
  rst_sibling: { n: 26, t: 'bool' },
  inherit_fd: { n: 27, t: 'message', repeated: true, msg: inheritFd },
  skip_mnt: { n: 31, t: 'string', repeated: true },
  manage_cgroups_mode: { n: 34, t: 'enum' },
  external: { n: 37, t: 'string', repeated: true },
  empty_ns: { n: 38, t: 'uint32' },
  join_ns: { n: 39, t: 'message', repeated: true, msg: joinNamespace },
  freeze_cgroup: { n: 44, t: 'string' },
  lazy_pages: { n: 48, t: 'bool' },
  status_fd: { n: 49, t: 'int32' },
  orphan_pts_master: { n: 50, t: 'bool' },
  config_file: { n: 51, t: 'string' },
  lsm_profile: { n: 53, t: 'string' },
  lsm_mount_context: { n: 63, t: 'string' },
};

const features: Schema = {
  mem_track: { n: 1, t: 'bool' },
  lazy_pages: { n: 2, t: 'bool' },
  pidfd_store: { n: 3, t: 'bool' },
};

const req: Schema = {
  type: { n: 1, t: 'enum' },
  opts: { n: 2, t: 'message', msg: opts },
  notify_success: { n: 3, t: 'bool' },
  keep_open: { n: 4, t: 'bool' },
  features: { n: 5, t: 'message', msg: features },
  pid: { n: 6, t: 'uint32' },
};

const version: Schema = {
  major_number: { n: 1, t: 'int32' },
  minor_number: { n: 2, t: 'int32' },
  gitid: { n: 3, t: 'string' },
  sublevel: { n: 4, t: 'int32' },
  extra: { n: 5, t: 'int32' },
  name: { n: 6, t: 'string' },
};

const resp: Schema = {
  type: { n: 1, t: 'enum' },
  success: { n: 2, t: 'bool' },
  dump: { n: 3, t: 'message', msg: { restored: { n: 1, t: 'bool' } } },
  restore: { n: 4, t: 'message', msg: { pid: { n: 1, t: 'int32' } } },
  notify: { n: 5, t: 'message', msg: { script: { n: 1, t: 'string' }, pid: { n: 2, t: 'int32' } } },
  ps: { n: 6, t: 'message', msg: pageServerInfo },
  cr_errno: { n: 7, t: 'int32' },
  features: { n: 8, t: 'message', msg: features },
  cr_errmsg: { n: 9, t: 'string' },
  version: { n: 10, t: 'message', msg: version },
  status: { n: 11, t: 'int32' },
};

export interface CriuOpts {
  images_dir_fd: number;
  pid?: number;
  leave_running?: boolean;
  ext_unix_sk?: boolean;
  tcp_established?: boolean;
  shell_job?: boolean;
  file_locks?: boolean;
  log_level?: number;
  log_file?: string;
  ps?: { address?: string; port?: number; fd?: number };
  notify_scripts?: boolean;
  root?: string;
  parent_img?: string;
  track_mem?: boolean;
  auto_dedup?: boolean;
  work_dir_fd?: number;
  link_remap?: boolean;
  ext_mnt?: { key: string; val: string }[];
  manage_cgroups?: boolean;
  cg_root?: { ctrl?: string; path: string }[];
  rst_sibling?: boolean;
  inherit_fd?: { key: string; fd: number }[];
  skip_mnt?: string[];
  manage_cgroups_mode?: number;
  external?: string[];
  empty_ns?: number;
  join_ns?: { ns: string; ns_file: string; extra_opt?: string }[];
  freeze_cgroup?: string;
  lazy_pages?: boolean;
  status_fd?: number;
  orphan_pts_master?: boolean;
  config_file?: string;
  lsm_profile?: string;
  lsm_mount_context?: string;
}

export interface CriuFeatures {
  mem_track?: boolean;
  lazy_pages?: boolean;
  pidfd_store?: boolean;
}

export interface CriuReq {
  type: number;
  opts?: CriuOpts;
  notify_success?: boolean;
  keep_open?: boolean;
  features?: CriuFeatures;
  pid?: number;
}

export interface CriuResp {
  type: number;
  success: boolean;
  dump?: { restored?: boolean };
  restore?: { pid: number };
  notify?: { script?: string; pid?: number };
  cr_errno?: number;
  features?: CriuFeatures;
  cr_errmsg?: string;
  version?: { major_number: number; minor_number: number; sublevel?: number; gitid?: string };
  status?: number;
}

export function encodeReq(r: CriuReq): Buffer {
  return encode(req, r as unknown as Record<string, unknown>);
}

export function decodeResp(b: Buffer): CriuResp {
  return decode(resp, b) as unknown as CriuResp;
}

// For tests: criu's side of the conversation.
export function decodeReq(b: Buffer): CriuReq {
  return decode(req, b) as unknown as CriuReq;
}
export function encodeResp(r: CriuResp): Buffer {
  return encode(resp, r as unknown as Record<string, unknown>);
}
