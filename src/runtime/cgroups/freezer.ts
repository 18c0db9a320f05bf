// pause/resume through the freezer: v1 freezer.state, v2 cgroup.freeze. Waits until the
// kernel reports the state reached, as runc does.
import fs = require('node:fs');
import { HuskError } from '../../errors';
import { sleep } from '../sleep';
import type { RuntimeContext } from '../context';
import { load } from '../lifecycle';

function setFrozen(file: string, frozen: boolean): void {
  const v2 = file.endsWith('cgroup.freeze');
  const want = v2 ? (frozen ? '1' : '0') : frozen ? 'FROZEN' : 'THAWED';
  for (let i = 0; i < 1000; i++) {
    try {
      fs.writeFileSync(file, want);
      const now = v2
        ? fs
            .readFileSync(file.replace(/cgroup\.freeze$/, 'cgroup.events'), 'utf8')
            .includes(`frozen ${frozen ? 1 : 0}`)
        : fs.readFileSync(file, 'utf8').trim() === want;
      if (now) return;
    } catch (e) {
      throw new HuskError(`write ${want} to ${file}: ${(e as Error).message}`);
    }
    sleep(1);
  }
  throw new HuskError(`${file}: the container did not reach ${want}`);
}

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
