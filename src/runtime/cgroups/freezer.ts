// The freezer: v1 freezer.state, v2 cgroup.freeze (the file a container's record keeps as
// freezerDir). setFrozen waits until the kernel reports the state reached, as runc does.
import fs = require('node:fs');
import { HuskError } from '../../errors';
import { sleep } from '../sleep';

export function setFrozen(file: string, frozen: boolean): void {
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

// Before a delete kills the container: a frozen process does not die of SIGKILL (v1). Best
// effort; a container without a freezer file has nothing frozen.
export function thaw(file: string | null): void {
  if (!file) return;
  try {
    fs.writeFileSync(file, file.endsWith('cgroup.freeze') ? '0' : 'THAWED');
  } catch {
    /* no freezer: nothing frozen */
  }
}
