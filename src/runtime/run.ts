// run = create + start + wait (+ delete). The init is our child (husk-init forks it with
// CLONE_PARENT), so we wait for it directly, off the main thread, and forward signals to it.
import os from 'node:os';
import { native, type ExitStatus } from '../native';
import type { RuntimeContext } from './context';
import { create, type CreateOptions } from './create';
import { destroy, start } from './lifecycle';

export interface RunOptions extends CreateOptions {
  detach?: boolean;
  keep?: boolean;
}

const FORWARDED: NodeJS.Signals[] = [
  'SIGTERM',
  'SIGINT',
  'SIGHUP',
  'SIGQUIT',
  'SIGUSR1',
  'SIGUSR2',
  'SIGWINCH',
  'SIGCONT',
];

export function exitCodeOf(s: ExitStatus): number {
  if (s.signal !== null) return 128 + s.signal;
  return s.code ?? 255;
}

export async function run(ctx: RuntimeContext, id: string, opts: RunOptions): Promise<number> {
  const rec = create(ctx, id, opts);
  try {
    start(ctx, id);
  } catch (e) {
    destroy(ctx, id, true);
    throw e;
  }
  if (opts.detach) return 0;
  const forward = (sig: NodeJS.Signals) => {
    try {
      process.kill(rec.pid, os.constants.signals[sig]);
    } catch {
      /* already exited */
    }
  };
  for (const s of FORWARDED) process.on(s, forward);
  let status: ExitStatus;
  try {
    status = await native().wait(rec.pid);
  } finally {
    for (const s of FORWARDED) process.off(s, forward);
  }
  if (!opts.keep) destroy(ctx, id, true);
  return exitCodeOf(status);
}
