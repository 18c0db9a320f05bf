// A path inside a root directory with its symlinks followed as the container sees them: an
// absolute link starts again at the root, and ".." stops there. runc names a bind mount to criu
// by its destination resolved so (securejoin): a destination that goes through a symlink in the
// image is mounted, and so dumped, at the link's target. What does not exist is kept as written.
import fs = require('node:fs');
import path = require('node:path');
import { HuskError } from '../errors';

const MAX_LINKS = 40; // the kernel's limit on one lookup

export function resolveInRoot(root: string, p: string): string {
  const rest = p.split('/').filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (rest.length) {
    const part = rest.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    let target: string | null = null;
    try {
      const at = path.join(root, ...done, part);
      if (fs.lstatSync(at).isSymbolicLink()) target = fs.readlinkSync(at);
    } catch {
      /* not there */
    }
    if (target === null) {
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) throw new HuskError(`${p}: too many levels of symbolic links in ${root}`);
    if (target.startsWith('/')) done.length = 0;
    rest.unshift(...target.split('/').filter(Boolean));
  }
  return `/${done.join('/')}`;
}
