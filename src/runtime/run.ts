// run = create + start + wait (+ delete). The init is our child (husk-init forks it with
// CLONE_PARENT), so we wait for it directly, off the main thread, and forward signals to it
// (under the husk server, the caller's front process is that parent and does both).
import type { ExitStatus, SyncMessage } from '../native';
import type { RuntimeContext } from './context';
import { syncIo } from './launch';
import { create, type CreateOptions } from './create';
import { destroy, destroyExited, start } from './lifecycle';
import fs = require('node:fs');
import { HuskError, NotHere } from '../errors';
import { MSG } from '../plan/ops';
import type { Spec } from '../spec/types';
import { loadConfig } from '../spec/load';
import { listenForConsole, relay, type ConsoleReceiver } from './tty';
import path = require('node:path');

export interface RunOptions extends CreateOptions {
  detach?: boolean;
  keep?: boolean;
}

export function exitCodeOf(s: ExitStatus): number {
  if (s.signal !== null) return 128 + s.signal;
  return s.code ?? 255;
}

// The wait is on the event loop in process (the library, the husk server: startContainer hooks
// may take a while, and other calls go on meanwhile).
async function execOutcome(
  ctx: RuntimeContext,
  syncFd: number,
  spec: Spec,
  describe: (m: SyncMessage) => string,
  waitMs?: number,
): Promise<string | null> {
  const hooks = (spec.hooks?.startContainer ?? []).reduce((n, h) => n + (h.timeout ?? 30), 0);
  try {
    const m = await syncIo(!!ctx.inProcess).recv(syncFd, waitMs ?? (hooks + 10) * 1000);
    if (m?.fd !== undefined) fs.closeSync(m.fd); // not expected after ready; not kept either
    if (m && m.type === MSG.ERROR) return describe(m);
    return null;
  } catch {
    return null; // no word within the time: the program runs
  } finally {
    fs.closeSync(syncFd);
  }
}

function startOrDestroy(ctx: RuntimeContext, id: string, spec: Spec): void {
  try {
    start(ctx, id, spec);
  } catch (e) {
    destroy(ctx, id, true, spec);
    throw e;
  }
}

export async function run(ctx: RuntimeContext, id: string, opts: RunOptions): Promise<number> {
  const spec = opts.spec ?? loadConfig(path.resolve(opts.bundle));
  if (!opts.spec) ctx.log.debug(`${id}: config loaded from ${path.resolve(opts.bundle)}/config.json`);
  let receiver: ConsoleReceiver | null = null;
  if (spec.process?.terminal && !opts.consoleSocket && !opts.detach) {
    if (!ctx.launcher.relaysTerminal) throw new NotHere();
    receiver = listenForConsole();
  }
  // Without startContainer and poststart hooks, `start` has nothing to do but let the init go
  // on: the init then runs the program right after create, with no exec fifo and no `start`.
  const atOnce = !spec.hooks?.startContainer?.length && !spec.hooks?.poststart?.length;
  let rec;
  let master = -1;
  let syncFd = -1;
  let describe: (m: SyncMessage) => string = (m) => m.text;
  // Signals are forwarded from the moment the init's pid is known (while it still sets up), so
  // one that comes while the container starts is its too.
  const forwarding = { stop: () => {} };
  try {
    rec = await create(ctx, id, {
      ...opts,
      spec,
      consoleSocket: receiver?.socket ?? opts.consoleSocket,
      relayedTerminal: !!receiver,
      startAtOnce: atOnce,
      onPid: opts.detach
        ? undefined
        : async (pid) => {
            forwarding.stop = await ctx.launcher.forwardSignals(pid);
          },
      keepSync: opts.detach
        ? undefined
        : (fd, d) => {
            syncFd = fd;
            describe = d;
          },
    });
    if (receiver) master = receiver.take();
  } catch (e) {
    forwarding.stop();
    if (master < 0 && rec) destroy(ctx, id, true);
    throw e;
  } finally {
    receiver?.close();
  }
  if (opts.detach) {
    if (!atOnce) startOrDestroy(ctx, id, spec);
    return 0;
  }
  if (!atOnce) {
    try {
      startOrDestroy(ctx, id, spec);
    } catch (e) {
      forwarding.stop();
      // A failed startContainer hook: the init said which on the sync socket before it died.
      const cause = syncFd >= 0 ? await execOutcome(ctx, syncFd, spec, describe, 100) : null;
      throw cause ? new HuskError(cause) : e;
    }
  }
  if (syncFd >= 0) {
    // The init's end of the sync socket closes at a successful exec; a failed exec (or a failed
    // startContainer hook) is reported on it instead: the real cause, as one husk line.
    const failure = await execOutcome(ctx, syncFd, spec, describe);
    if (failure) {
      forwarding.stop();
      destroy(ctx, id, true);
      throw new HuskError(failure);
    }
  }
  const tty = master >= 0 ? relay(master, spec.process?.consoleSize) : null;
  let status: ExitStatus;
  try {
    status = await ctx.launcher.wait(rec.pid);
    // The rest of the output, up to a moment: a process the container left behind may keep
    // the pty open.
    if (tty) await Promise.race([tty.done, new Promise((r) => setTimeout(r, 500))]);
  } finally {
    forwarding.stop();
    tty?.stop();
  }
  ctx.log.debug(`${id}: container process exited (exit code ${exitCodeOf(status)})`);
  if (!opts.keep) await destroyExited(ctx, id, spec, rec);
  return exitCodeOf(status);
}
