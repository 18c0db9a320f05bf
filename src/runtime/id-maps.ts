// The id maps of a container's new user namespace, written from outside by the runtime at the
// usermap stage (only a process outside can write several ranges).
import fs = require('node:fs');
import { HuskError } from '../errors';
import type { LaunchPlan } from '../plan';

// Root writes the maps itself. Anyone else may write only a single mapping of their own id
// (after setgroups "deny"); anything more goes through the setuid newuidmap/newgidmap helpers
// with /etc/subuid and /etc/subgid, as runc does.
export function writeIdMaps(pid: number, plan: LaunchPlan): void {
  const root = (process.geteuid?.() ?? 0) === 0;
  const write = (kind: 'uid' | 'gid', map: string, where: string) => {
    const lines = map.trim().split('\n');
    const own = kind === 'uid' ? process.geteuid?.() : process.getegid?.();
    const single =
      lines.length === 1 && lines[0].split(' ')[1] === String(own) && lines[0].split(' ')[2] === '1';
    try {
      if (root || single) {
        if (!root && kind === 'gid') fs.writeFileSync(`/proc/${pid}/setgroups`, 'deny');
        fs.writeFileSync(`/proc/${pid}/${kind}_map`, map);
      } else {
        const args = [String(pid), ...lines.flatMap((l) => l.split(' '))];
        // Loaded here: only several id ranges need the setuid helpers.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
        const r = spawnSync(`new${kind}map`, args, { encoding: 'utf8' });
        if (r.error) throw new Error(`new${kind}map: ${r.error.message} (install the uidmap package)`);
        if (r.status !== 0)
          throw new Error(`new${kind}map ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.status}`}`);
      }
    } catch (e) {
      throw new HuskError(`${where}: write ${kind}_map: ${(e as Error).message}`);
    }
  };
  write('uid', plan.namespaces.uidMap, '/linux/uidMappings');
  write('gid', plan.namespaces.gidMap, '/linux/gidMappings');
}
