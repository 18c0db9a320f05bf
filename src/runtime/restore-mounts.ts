// Before criu restores the mounts of a container, their mountpoints must exist in the rootfs:
// a restore from another bundle (podman --import, a copied rootfs) lacks those the first create
// made. Made as create makes them (directories 0755, an empty file for a bind of a file), at the
// destination resolved inside the rootfs (where the dump found the mount, and as runc makes it),
// never through a symlink out of it.
import fs = require('node:fs');
import path = require('node:path');
import { resolveInRoot } from '../criu/in-root';
import type { Logger } from '../log';
import type { Spec } from '../spec/types';

function sourceIsFile(m: { source?: string; type?: string; options?: string[] }): boolean {
  const bind = m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
  if (!bind || !m.source) return false;
  try {
    return !fs.statSync(m.source).isDirectory();
  } catch {
    return false;
  }
}

export function prepareMountpoints(spec: Spec, rootfs: string, log: Logger): void {
  for (const m of spec.mounts ?? []) {
    const parts = resolveInRoot(rootfs, m.destination).split('/').filter(Boolean);
    let at = rootfs;
    for (let i = 0; i < parts.length; i++) {
      at = path.join(at, parts[i]);
      let st: fs.Stats | null = null;
      try {
        st = fs.lstatSync(at);
      } catch {
        /* made below */
      }
      if (st?.isSymbolicLink()) {
        // Only a link made since it was resolved: not followed.
        log.debug(`restore: mountpoint ${m.destination} goes through a symlink; left to criu`);
        break;
      }
      if (st) continue;
      const last = i === parts.length - 1;
      if (last && sourceIsFile(m)) fs.writeFileSync(at, '', { flag: 'wx', mode: 0o644 });
      else fs.mkdirSync(at, { mode: 0o755 });
    }
  }
}
