// pause and resume: the container's processes frozen and thawed through its freezer file, under
// the container's lock.
import { HuskError } from '../errors';
import { setFrozen } from './cgroups';
import type { RuntimeContext } from './context';
import { load } from './lifecycle';

export function pause(ctx: RuntimeContext, id: string): void {
  const lock = ctx.store.lock(id);
  try {
    const { rec, status } = load(ctx, id);
    if (status !== 'running' && status !== 'created')
      throw new HuskError(`container ${id} is ${status}, not running`);
    if (!rec.freezerDir) throw new HuskError(`container ${id} has no freezer cgroup: cannot pause it`);
    setFrozen(rec.freezerDir, true);
  } finally {
    lock.release();
  }
}

export function resume(ctx: RuntimeContext, id: string): void {
  const lock = ctx.store.lock(id);
  try {
    const { rec, status } = load(ctx, id);
    if (status !== 'paused') throw new HuskError(`container ${id} is ${status}, not paused`);
    setFrozen(rec.freezerDir!, false);
  } finally {
    lock.release();
  }
}
