// The front protocol's numbers and layouts: addon/common/front_protocol.h is the other half.
export const MSG = {
  REQUEST: 1,
  SPAWNED: 2,
  EXITED: 3,
  FORWARDING: 4,
  FALLBACK: 10,
  SPAWN: 11,
  REAP: 12,
  WAIT: 13,
  DONE: 14,
  FORWARD: 15,
} as const;

export const SOCKET_NAME = 'socket';
const HEADER = 16;

export interface FrontMsg {
  type: number;
  a: number;
  b: number;
  c: number;
}

export function encodeMsg(m: FrontMsg): Buffer {
  const b = Buffer.alloc(HEADER);
  b.writeUInt32LE(m.type, 0);
  b.writeInt32LE(m.a, 4);
  b.writeInt32LE(m.b, 8);
  b.writeUInt32LE(m.c >>> 0, 12);
  return b;
}

export function decodeMsg(data: Buffer): FrontMsg | null {
  if (data.length < HEADER) return null;
  return {
    type: data.readUInt32LE(0),
    a: data.readInt32LE(4),
    b: data.readInt32LE(8),
    c: data.readUInt32LE(12),
  };
}

export interface CallRequest {
  cwd: string;
  args: string[];
  env: Record<string, string>;
  umask: number;
}

// REQUEST: the header (a = argc, b = envc, c = umask), then cwd, the arguments and the
// environment, each NUL-terminated. null: not a well-formed request.
export function decodeRequest(data: Buffer): CallRequest | null {
  const m = decodeMsg(data);
  if (!m || m.type !== MSG.REQUEST || m.a < 0 || m.b < 0) return null;
  const strings = data.subarray(HEADER).toString('utf8').split('\0');
  // Each string ends with a NUL, so the split leaves one empty string after the last.
  if (strings.length !== 1 + m.a + m.b + 1 || strings[strings.length - 1] !== '') return null;
  const env: Record<string, string> = {};
  for (const e of strings.slice(1 + m.a, 1 + m.a + m.b)) {
    const eq = e.indexOf('=');
    if (eq > 0) env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return { cwd: strings[0], args: strings.slice(1, 1 + m.a), env, umask: m.c & 0o777 };
}

// The caller's wait status (waitpid) as an exit code and a signal.
export function statusOf(raw: number): { code: number | null; signal: number | null } {
  const sig = raw & 0x7f;
  if (sig === 0) return { code: (raw >> 8) & 0xff, signal: null };
  return { code: null, signal: sig };
}
