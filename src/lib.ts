// In-process API: the runtime the CLI uses, over the same state directory, so `husk list`
// sees containers made here and the other way round.
//
//   const { Runtime } = require('husk');
//   const rt = new Runtime({ root: '/run/husk' });
//   await rt.create('c1', { bundle: '/path/to/bundle' });
//   rt.start('c1');
//   const { code } = await rt.wait('c1');
//   rt.delete('c1');
import fs = require('node:fs');
import { Logger } from './log';
import { native, type ExitStatus } from './native';
import { makeContext, type RuntimeContext } from './runtime/context';
import { create, type CreateOptions } from './runtime/create';
import { exec, type ExecOptions } from './runtime/exec';
import { destroy, kill, list, start, state } from './runtime/lifecycle';
import { run, type RunOptions } from './runtime/run';
import { initAlive } from './state/status';

export class Runtime {
  readonly ctx: RuntimeContext;
  private children = new Map<string, number>();

  constructor(
    opts: { root?: string; log?: string; logFormat?: 'text' | 'json'; rootless?: boolean | 'auto' } = {},
  ) {
    this.ctx = makeContext({
      root: opts.root,
      log: new Logger({ file: opts.log, format: opts.logFormat }),
      rootless: opts.rootless === 'auto' ? undefined : opts.rootless,
      inProcess: true,
    });
  }

  // Resolves once the container is created (its init waits for start). The init's set-up is
  // waited for off the main thread.
  async create(id: string, opts: CreateOptions): Promise<void> {
    const rec = await create(this.ctx, id, opts);
    this.children.set(id, rec.pid);
  }

  start(id: string): void {
    start(this.ctx, id);
  }

  state(id: string) {
    return state(this.ctx, id);
  }

  list() {
    return list(this.ctx);
  }

  kill(id: string, signal: string | number = 'SIGTERM', all = false): void {
    kill(this.ctx, id, signal, all);
  }

  // The exit status of the container's init. For a container created by this Runtime the
  // init is our child: waited for off the main thread, no polling. Any other container's init
  // is waited for through a pidfd; its status is not ours to read, so it resolves with nulls.
  async wait(id: string): Promise<ExitStatus> {
    const pid = this.children.get(id);
    if (pid !== undefined) {
      this.children.delete(id);
      return native().wait(pid);
    }
    const rec = this.ctx.store.read(id);
    if (!rec) throw new Error(`container ${id} does not exist`);
    if (!initAlive(rec)) return { code: null, signal: null };
    // The pidfd first, then the start time again: a pid reused meanwhile is not waited for.
    let fd = -1;
    try {
      fd = native().pidfdOpen(rec.pid);
    } catch {
      // No pidfd_open (Linux < 5.3): look every 10 ms instead.
      while (initAlive(rec)) await new Promise((r) => setTimeout(r, 10));
      return { code: null, signal: null };
    }
    if (fd >= 0) {
      if (initAlive(rec)) await native().waitPidfd(fd);
      else fs.closeSync(fd);
    }
    return { code: null, signal: null };
  }

  delete(id: string, force = false): void {
    destroy(this.ctx, id, force);
    const pid = this.children.get(id);
    if (pid !== undefined) {
      native().reap(pid, false);
      this.children.delete(id);
    }
  }

  exec(id: string, opts: ExecOptions): Promise<number> {
    return exec(this.ctx, id, opts);
  }

  // create + start + wait + delete; resolves to the exit code (128+signal when killed).
  run(id: string, opts: RunOptions): Promise<number> {
    return run(this.ctx, id, opts);
  }
}

export * from './runtime';
export { HuskError } from './errors';
export { buildPlan } from './plan';
export { probeHost } from './host/probe';
export { parseConfig, loadConfig } from './spec/load';
export type { Spec, State, Process } from './spec/types';
export type { ExitStatus } from './native';
