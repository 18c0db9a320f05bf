// The only module that loads the addon. Paths are resolved from this file's location, which is
// dist/ for the bundled CLI and out/native/ for the unit-test build.
import path = require('node:path');
import fs = require('node:fs');

export interface SyncMessage {
  type: number;
  stage: number;
  op: number;
  errno: number;
  pid: number;
  text: string;
  errnoText?: string;
  fd?: number; // a seccomp listener (MSG.SECCOMP_FD), ours to close
}

export interface ExitStatus {
  code: number | null;
  signal: number | null;
}

// What husk-init is started with (spawn here, or prepareSpawn and the front's launch).
export interface SpawnRequest {
  initPath: string;
  plan: Buffer;
  fifo?: string;
  consoleSocket?: string;
  preserveFds?: number;
  stdio?: (number | null)[];
  // In process (the library, the husk server): spawn on the thread pool while the caller goes on.
  background?: boolean;
}

export interface Native {
  spawn(req: SpawnRequest): { pid: number; syncFd: number };
  spawnAsync(req: SpawnRequest): Promise<{ pid: number; syncFd: number }>; // on the thread pool
  recv(fd: number, timeoutMs: number): SyncMessage | null;
  recvAsync(fd: number, timeoutMs: number): Promise<SyncMessage | null>;
  writeInBackground(path: string, data: string): Promise<number>;
  rmdirsInBackground(paths: string[]): Promise<number[]>; // errno of each rmdir, in order (0: done)
  pidfdOpen(pid: number): number; // -1: no such process
  waitPidfd(fd: number): Promise<void>; // until that process exits; closes the fd
  reply(fd: number, type: number): void;
  sendData(fd: number, data: Buffer): void;
  mkfifo(path: string, mode: number): void;
  exchange(a: string, b: string): number; // renameat2(RENAME_EXCHANGE): errno, 0 when done
  unlink(path: string): number; // errno, 0 when done
  // Writes each value into its existing file in order, stopping at the first failure: the
  // errno of each (0: written, or not tried after a failure).
  writeFiles(paths: string[], values: string[]): number[];
  sendSeccompState(socketPath: string, state: Buffer, fd: number): void;
  releaseFifo(path: string): number;
  fifoBytes(fd: number): number;
  wait(pid: number): Promise<ExitStatus>;
  reap(pid: number, block?: boolean): ExitStatus | null;
  umountDetach(path: string): number; // 0 or an errno
  bindMount(src: string, dst: string): number; // MS_BIND|MS_REC: 0 or an errno
  flock(fd: number, op: number): boolean;
  compileSeccomp(req: {
    defaultAction: number;
    arches: string[];
    rules: { name: string; action: number; conds: { index: number; op: number; a: bigint; b: bigint }[] }[];
    enosysAbove: string[];
  }): { bpf: Buffer; unknown: string[] };
  seccompVersion(): string;
  listenUnix(path: string): number;
  setWinsize(fd: number, rows: number, cols: number): void;
  attachDeviceProgram(cgroupDir: string, program: Buffer): void;
  acceptFd(listenFd: number, timeoutMs: number): { fd: number; name: string };
  // A blocking unix stream socket ('@name' for an abstract one): the D-Bus transport.
  connectUnix(path: string): number;
  // What arrived within timeoutMs (empty at end of stream), or null if nothing did.
  readWithin(fd: number, timeoutMs: number): Buffer | null;
  // The husk server's side of the front protocol (addon/common/front_protocol.h).
  prepareSpawn(req: SpawnRequest): {
    exe: number; // kept by this process: not to be closed
    syncFd: number;
    slots: number[]; // -1: none
  };
  seqSend(fd: number, data: Buffer, fds?: number[]): void;
  seqpacketPair(): [number, number]; // both close-on-exec
  seqRecvAsync(fd: number): Promise<{ data: Buffer; fds: number[] } | null>;
  listenSeqpacket(path: string): number;
  acceptAsync(listenFd: number): Promise<number>;
  peerCred(fd: number): { pid: number; uid: number; gid: number };
  swapStdio(fds: number[]): number[];
  restoreStdio(saved: number[]): void;
  dupFd(fd: number): number;
}

function findBuildDir(): string {
  const candidates = [
    path.join(__dirname, '..', 'build', 'Release'),
    path.join(__dirname, '..', '..', 'build', 'Release'),
  ];
  for (const c of candidates) if (fs.existsSync(path.join(c, 'husk_native.node'))) return c;
  throw new Error('husk native addon not built: run `npm install` (node-gyp rebuild) in the husk directory');
}

let cached: Native | undefined;
let buildDir: string | undefined;

export function native(): Native {
  if (!cached) {
    buildDir = findBuildDir();
    // The addon's path is known only at run time (build/Release or a packaged copy).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cached = require(path.join(buildDir, 'husk_native.node')) as Native;
  }
  return cached;
}

export function initPath(): string {
  native();
  return path.join(buildDir!, 'husk-init');
}
