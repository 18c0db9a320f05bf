// One conversation with criu through its RPC interface, as runc drives it: `criu swrk 3` with one
// end of a SOCK_SEQPACKET socketpair as its fd 3, a criu_req sent, criu's notifications answered
// (each with notify_success) until its final criu_resp.
import { spawn } from 'node:child_process';
import fs = require('node:fs');
import { HuskError } from '../errors';
import { native } from '../native';
import { decodeResp, encodeReq, REQ, type CriuReq, type CriuResp } from './rpc';

export interface SwrkCall {
  criu: string; // the binary (--criu), looked up on PATH when it has no '/'
  req: CriuReq;
  // criu's fds from 4 on: the images and work directories, namespace files, ...
  fds?: number[];
  // criu's fds 0-2 (restore: the caller's, which inherit_fd entries name); default /dev/null
  // for stdin and stdout, our stderr.
  stdio?: [number | 'ignore', number | 'ignore', number | 'ignore'];
  // Called with criu's pid before the request is sent (restore: criu joins the cgroups).
  beforeRequest?: (pid: number) => CriuReq | void;
  onNotify?: (script: string, pid: number | undefined, fds: number[]) => void | Promise<void>;
  log?: string; // criu's log file, named in errors
  what: string; // 'dump', 'restore', ... for messages
}

const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(REQ).map(([k, v]) => [v, k]));

export function installHint(criu: string): string {
  return `criu: ${criu} not found: install criu (apt-get install criu) or give --criu PATH`;
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    /* closed */
  }
}

export async function swrk(call: SwrkCall): Promise<CriuResp> {
  const [ours, theirs] = native().seqpacketPair();
  const stdio = call.stdio ?? ['ignore', 'ignore', 2];
  let child;
  try {
    child = spawn(call.criu, ['swrk', '3'], { stdio: [...stdio, theirs, ...(call.fds ?? [])] });
  } finally {
    closeQuietly(theirs);
  }
  const exited = new Promise<{ code: number | null; signal: string | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  try {
    if (child.pid === undefined) {
      const r = await exited;
      const code = (r.error as NodeJS.ErrnoException | undefined)?.code;
      if (code === 'ENOENT') throw new HuskError(installHint(call.criu));
      throw new HuskError(`criu: start ${call.criu}: ${r.error?.message ?? 'failed'}`);
    }
    const req = call.beforeRequest?.(child.pid) ?? call.req;
    native().seqSend(ours, encodeReq(req));
    const logNote = call.log ? ` (criu's log: ${call.log})` : '';
    for (;;) {
      const m = await native().seqRecvAsync(ours);
      if (m === null) {
        const r = await exited;
        const how = r.signal ? `signal ${r.signal}` : `exit status ${r.code}`;
        throw new HuskError(`criu ${call.what} failed: criu ended (${how}) without an answer${logNote}`);
      }
      const resp = decodeResp(m.data);
      if (resp.type === REQ.NOTIFY) {
        try {
          await call.onNotify?.(resp.notify?.script ?? '', resp.notify?.pid, m.fds);
        } catch (e) {
          // criu rolls back when told the notification failed; the error is ours to report.
          native().seqSend(ours, encodeReq({ type: REQ.NOTIFY, notify_success: false }));
          throw e;
        } finally {
          for (const fd of m.fds) closeQuietly(fd);
        }
        native().seqSend(ours, encodeReq({ type: REQ.NOTIFY, notify_success: true }));
        continue;
      }
      if (resp.type !== req.type) {
        // An older criu answers a request type it does not know with its own type and failure.
        throw new HuskError(
          `criu ${call.what}: unexpected answer ${TYPE_NAMES[resp.type] ?? resp.type} to ${TYPE_NAMES[req.type] ?? req.type}${logNote}`,
        );
      }
      if (!resp.success) {
        const why = [resp.cr_errmsg, resp.cr_errno ? `errno ${resp.cr_errno}` : '']
          .filter(Boolean)
          .join(', ');
        throw new HuskError(`criu ${call.what} failed${why ? `: ${why}` : ''}${logNote}`);
      }
      return resp;
    }
  } finally {
    closeQuietly(ours);
    if (child.pid !== undefined) {
      // criu exits once its socket closes; the exit is awaited so no zombie is left.
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  }
}

// criu's version as major*10000 + minor*100 + sublevel (runc's scale), by the VERSION request.
export const MIN_CRIU_VERSION = 30000; // 3.0: the first with the VERSION request

export async function criuVersion(criu: string): Promise<{ number: number; text: string }> {
  let resp: CriuResp;
  try {
    resp = await swrk({ criu, req: { type: REQ.VERSION }, what: 'version' });
  } catch (e) {
    if ((e as Error).message.startsWith(`criu: ${criu} not found`)) throw e;
    // criu older than 3.0 does not know the request; one that cannot run on this kernel ends
    // at start-up: either way `criu check` says more.
    throw new HuskError(
      `criu at ${criu} did not say its version (${(e as Error).message}): husk needs criu 3.0 or later, and \`criu check\` must pass on this kernel`,
    );
  }
  const v = resp.version;
  if (!v) throw new HuskError(`criu at ${criu} did not say its version: install criu 3.0 or later`);
  const number = v.major_number * 10000 + v.minor_number * 100 + (v.sublevel ?? 0);
  const text = `${v.major_number}.${v.minor_number}${v.sublevel ? `.${v.sublevel}` : ''}`;
  if (number < MIN_CRIU_VERSION)
    throw new HuskError(`criu ${text} at ${criu} is too old: install criu 3.0 or later`);
  return { number, text };
}
