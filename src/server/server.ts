// `husk server`: a long-lived husk for one user that runs the calls of the `husk` front binary
// in this already started Node process, so a call costs no Node start-up. A caller is served
// only if it is this user with the same namespaces, root, capabilities, no_new_privs, seccomp
// mode and LSM label as the server: anything it could not do itself, it cannot have done here.
// Anyone else, and any call the server does not run (help, events, a relayed terminal), is
// told to fall back and runs as the ordinary Node CLI.
import fs = require('node:fs');
import path = require('node:path');
import { HuskError } from '../errors';
import { native } from '../native';
import type { RuntimeContext } from '../runtime/context';
import { CallScope } from './call-scope';
import { FrontConnection, FrontLauncher } from './front-launcher';
import { decodeRequest, MSG, SOCKET_NAME, type CallRequest } from './protocol';
import { inheritedListener } from './socket-activation';

const LOCK_EX_NB = 2 | 4;

// The front's rule too (addon/front/main.cc): HUSK_SERVER_DIR, else /run/husk-server for root
// and $XDG_RUNTIME_DIR/husk-server for anyone else.
export function serverDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HUSK_SERVER_DIR) return env.HUSK_SERVER_DIR;
  if ((process.geteuid?.() ?? 0) === 0) return '/run/husk-server';
  if (env.XDG_RUNTIME_DIR) return path.join(env.XDG_RUNTIME_DIR, 'husk-server');
  throw new HuskError('no server directory: set HUSK_SERVER_DIR or XDG_RUNTIME_DIR');
}

const NAMESPACES = ['mnt', 'pid', 'net', 'user', 'uts', 'ipc', 'cgroup', 'time'];
const STATUS_FIELDS = ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp'];

// What a process can reach and do, as far as the kernel shows it in /proc.
function standing(pid: number | 'self'): string[] {
  const p = `/proc/${pid}`;
  const out: string[] = [];
  for (const ns of NAMESPACES) {
    try {
      out.push(fs.readlinkSync(`${p}/ns/${ns}`));
    } catch {
      out.push(`${ns}:none`);
    }
  }
  out.push(fs.readlinkSync(`${p}/root`));
  const status = fs.readFileSync(`${p}/status`, 'utf8');
  for (const f of STATUS_FIELDS)
    out.push(new RegExp(`^${f}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? `${f}:none`);
  try {
    out.push(fs.readFileSync(`${p}/attr/current`, 'utf8'));
  } catch {
    out.push('lsm:none');
  }
  return out;
}

let own: string[] | undefined;

// Why this caller is not served, or null.
export function refusal(fd: number): string | null {
  const cred = native().peerCred(fd);
  if (cred.uid !== process.geteuid?.()) return `uid ${cred.uid}`;
  let theirs: string[];
  try {
    theirs = standing(cred.pid);
  } catch (e) {
    return `cannot read /proc/${cred.pid}: ${(e as Error).message}`;
  }
  own ??= standing('self');
  const differ = theirs.findIndex((v, i) => v !== own![i]);
  return differ < 0
    ? null
    : `differs in ${differ < NAMESPACES.length ? `${NAMESPACES[differ]} namespace` : 'root, capabilities, no_new_privs, seccomp or LSM label'}`;
}

function closeAll(fds: number[]): void {
  for (const fd of fds) {
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
  }
}

// What the server did, told when it stops (and checked by the conformance run through it).
const tally = { served: 0, fellBack: 0, refused: 0 };

// V8 grows a long-lived process's heap towards its (GiB-sized) limit before it compacts, so a
// busy server's RSS would climb by about half a MiB a call. A full collection when no call has
// come for a while (and after every 50 calls) keeps it near 120 MiB; it costs a few
// milliseconds that a caller rarely waits for.
let collect: (() => void) | null | undefined;
let idleTimer: NodeJS.Timeout | undefined;
let inFlight = 0;
let sinceCollect = 0;

function collectGarbage(): void {
  if (collect === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('node:v8').setFlagsFromString('--expose-gc');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      collect = require('node:vm').runInNewContext('gc') as () => void;
    } catch {
      collect = null;
    }
  }
  sinceCollect = 0;
  collect?.();
}

function callEnded(): void {
  inFlight--;
  clearTimeout(idleTimer);
  if (++sinceCollect >= 50) collectGarbage();
  else if (inFlight === 0) idleTimer = setTimeout(collectGarbage, 1000).unref();
}

async function serveConnection(fd: number, log: (s: string) => void, runCall: CallRunner): Promise<void> {
  inFlight++;
  try {
    await handleCall(fd, log, runCall);
  } finally {
    callEnded();
  }
}

async function handleCall(fd: number, log: (s: string) => void, runCall: CallRunner): Promise<void> {
  const conn = new FrontConnection(fd);
  let stdio: number[] = [];
  try {
    const got = await native().seqRecvAsync(fd);
    if (!got) return;
    stdio = got.fds;
    const req: CallRequest | null = decodeRequest(got.data);
    if (!req || stdio.length !== 3) {
      log('a malformed request');
      return;
    }
    const why = refusal(fd);
    // Test-only crash points kill the process they run in: the caller's own, not the server.
    if (why || Object.keys(req.env).some((k) => k.startsWith('HUSK_INTERNAL_'))) {
      if (why) log(`not serving a caller: ${why}`);
      tally.refused++;
      conn.send(MSG.FALLBACK);
      return;
    }
    const scope = new CallScope(req, stdio);
    try {
      await scope.enter();
    } catch (e) {
      // Nothing done yet (a cwd that is gone, say): the Node CLI answers as it would have.
      log(`cannot take the caller's place: ${(e as Error).message}`);
      tally.fellBack++;
      conn.send(MSG.FALLBACK);
      return;
    }
    let code: number | null;
    try {
      code = await runCall(req.args, {
        launcher: new FrontLauncher(conn, scope),
        inProcess: true,
        keepCgroupParents: true,
      });
    } catch (e) {
      fs.writeSync(2, `husk: ${(e as Error).message}\n`);
      code = 1;
    } finally {
      scope.leave();
    }
    // The caller's stdio goes before the answer: whoever reads the caller's output until EOF
    // must not wait on the server's copies after the front has exited.
    closeAll(stdio);
    stdio = [];
    if (code === null) {
      tally.fellBack++;
      conn.send(MSG.FALLBACK);
    } else {
      tally.served++;
      conn.send(MSG.DONE, code);
    }
  } catch (e) {
    log(`call failed: ${(e as Error).message}`);
  } finally {
    closeAll(stdio);
    closeAll([fd]);
  }
}

// What the server sets for each call it runs.
export type CallOptions = Pick<RuntimeContext, 'launcher' | 'inProcess' | 'keepCgroupParents'>;
// Runs one call's arguments as the command line would; null: not one the server runs (the front
// then hands it to the Node CLI). Given by the command line that starts the server, so the server
// imports nothing of it.
export type CallRunner = (args: string[], call: CallOptions) => Promise<number | null>;

export interface ServerOptions {
  runCall: CallRunner;
  dir?: string;
  // Lines about the server itself (not the calls: those write to their callers' stderr).
  log?: (s: string) => void;
  onListening?: (socket: string) => void;
}

// Runs until the process is stopped (SIGTERM, SIGINT: the socket is removed first).
export async function serve(opts: ServerOptions): Promise<never> {
  // A copy of the server's own stderr: while a call runs, fd 2 is its caller's, and another
  // call's refusal must not be told there.
  const ownStderr = opts.log ? -1 : native().dupFd(2);
  const log = opts.log ?? ((s: string) => fs.writeSync(ownStderr, `husk server: ${s}\n`));
  const dir = opts.dir ?? serverDir();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || st.uid !== process.geteuid?.() || (st.mode & 0o022) !== 0)
    throw new HuskError(
      `server directory ${dir}: must be a directory of this user's, not writable by others`,
    );
  const lockFd = fs.openSync(path.join(dir, 'lock'), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  if (!native().flock(lockFd, LOCK_EX_NB)) throw new HuskError(`a husk server already runs in ${dir}`);
  const socket = path.join(dir, SOCKET_NAME);
  // Socket-activated (examples/husk-server.socket): systemd made and owns the socket file.
  const inherited = inheritedListener();
  if (inherited === null) fs.rmSync(socket, { force: true });
  const listenFd = inherited ?? native().listenSeqpacket(socket);
  const stop = () => {
    // (process.exit runs the 'exit' hook that removes the cgroup parents kept between calls.)
    if (inherited === null) fs.rmSync(socket, { force: true });
    log(
      `stopped: ${tally.served} calls served, ${tally.fellBack} handed back, ${tally.refused} callers refused`,
    );
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The server's own stdio is not the callers': a call's output goes to its caller's fds.
  opts.onListening?.(inherited === null ? socket : `${socket} (inherited from systemd)`);
  for (;;) {
    const fd = await native().acceptAsync(listenFd);
    if (fd >= 0) void serveConnection(fd, log, opts.runCall);
  }
}
