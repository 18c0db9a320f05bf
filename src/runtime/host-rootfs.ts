// A container with no mount namespace of its own mounts in the runtime's (the spec: an unlisted
// namespace type is inherited): its rootfs bind and everything below it. They must not outlive
// the container, so delete (and a failed create) detaches the bind, and with it every mount
// below it, but only while it is still the one the container made: the mount below it (an
// engine's overlay, say) is never touched.
import fs = require('node:fs');
import { native } from '../native';

const unescape = (s: string) =>
  s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

// The id of the mount on top of `dir` in our mount namespace, or -1 when none is mounted there.
export function topMountId(dir: string): number {
  let id = -1;
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f.length > 4 && unescape(f[4]) === dir) id = Number(f[0]);
  }
  return id;
}

export function detachHostRootfs(m: { path: string; below: number } | undefined): void {
  if (!m) return;
  // A few: a bind of the container's made on top of its own bind is its too.
  for (let i = 0; i < 8; i++) {
    const top = topMountId(m.path);
    if (top === -1 || top === m.below) return;
    if (native().umountDetach(m.path) !== 0) return;
  }
}
