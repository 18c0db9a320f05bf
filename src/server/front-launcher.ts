// The Launcher of a call the server runs: the caller's front process (addon/front/main.cc)
// starts husk-init with the fds the server prepared, reaps the init's first stage and waits for
// a foreground process, so every container process descends from the caller, as under runc.
import fs = require('node:fs');
import os = require('node:os');
import { HuskError } from '../errors';
import { native, type ExitStatus } from '../native';
import type { Launcher, SpawnRequest } from '../runtime/launcher';
import type { CallScope } from './call-scope';
import { decodeMsg, encodeMsg, MSG, statusOf, type FrontMsg } from './protocol';

export class FrontConnection {
  constructor(readonly fd: number) {}

  send(type: number, a = 0, b = 0, c = 0, fds?: number[]): void {
    native().seqSend(this.fd, encodeMsg({ type, a, b, c }), fds);
  }

  // The front's answer of the given type; its going away is an error.
  async expect(type: number): Promise<FrontMsg> {
    const got = await native().seqRecvAsync(this.fd);
    for (const fd of got?.fds ?? []) fs.closeSync(fd);
    const m = got ? decodeMsg(got.data) : null;
    if (!m) throw new HuskError('the calling husk process went away');
    if (m.type !== type) throw new HuskError(`husk front: message ${m.type} where ${type} was expected`);
    return m;
  }
}

function errnoName(n: number): string {
  const name = Object.entries(os.constants.errno).find(([, v]) => v === n)?.[0];
  return name ? `${name} (${n})` : `errno ${n}`;
}

export class FrontLauncher implements Launcher {
  readonly relaysTerminal = false;

  constructor(
    private readonly conn: FrontConnection,
    private readonly scope: CallScope,
  ) {}

  async spawn(req: SpawnRequest): Promise<{ pid: number; syncFd: number }> {
    const p = native().prepareSpawn(req);
    let mask = 0;
    const fds = [p.exe];
    p.slots.forEach((fd, i) => {
      if (fd >= 0) {
        mask |= 1 << i;
        fds.push(fd);
      }
    });
    try {
      this.conn.send(MSG.SPAWN, req.preserveFds ?? 0, 0, mask, fds);
      const r = await this.conn.expect(MSG.SPAWNED);
      if (r.b < 0) throw new Error(`launch husk-init: ${errnoName(-r.b)}`);
      return { pid: r.a, syncFd: p.syncFd };
    } catch (e) {
      fs.closeSync(p.syncFd);
      throw e;
    } finally {
      for (const fd of p.slots) if (fd >= 0) fs.closeSync(fd);
    }
  }

  reap(pid: number): void {
    try {
      this.conn.send(MSG.REAP, pid);
    } catch {
      /* the front is gone: its children went to its reaper */
    }
  }

  // Other calls run while this one waits: the scope is let go until the front answers.
  async wait(pid: number): Promise<ExitStatus> {
    if (pid <= 0) throw new HuskError(`no process to wait for (pid ${pid})`);
    this.scope.leave();
    try {
      this.conn.send(MSG.WAIT, pid);
      return statusOf((await this.conn.expect(MSG.EXITED)).a);
    } finally {
      await this.scope.enter();
    }
  }

  // The front forwards what it gets to the process, from now until told to stop. Resolves once
  // its handlers are in place: a signal the caller sends as soon as the process runs is its.
  async forwardSignals(pid: number): Promise<() => void> {
    if (pid <= 0) return () => {};
    this.conn.send(MSG.FORWARD, pid);
    await this.conn.expect(MSG.FORWARDING);
    return () => {
      try {
        this.conn.send(MSG.FORWARD, 0);
      } catch {
        /* the front is gone */
      }
    };
  }
}
