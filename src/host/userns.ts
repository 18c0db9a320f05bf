// Which user namespace this process is in, read from /proc/self/uid_map: facts of the host the
// runtime and the cgroup drivers both ask for. Each takes the map's text for tests.
import fs = require('node:fs');

// A process's own map never changes once it runs: read once. null: no /proc to read (then this
// is taken as the initial namespace).
let own: string | null | undefined;
function uidMapLines(uidMap?: string): string[] | null {
  if (uidMap === undefined && own === undefined) {
    try {
      own = fs.readFileSync('/proc/self/uid_map', 'utf8');
    } catch {
      own = null;
    }
  }
  const text = uidMap ?? own;
  return text == null ? null : text.trim().split('\n');
}

// The uid the world outside every user namespace knows `uid` by (uid_map: inside outside count
// per line); the initial namespace maps every id onto itself. A D-Bus daemon authenticates a
// peer by that uid (SO_PEERCRED), whatever it is called inside.
export function hostUid(uid: number, uidMap?: string): number {
  for (const line of uidMapLines(uidMap) ?? []) {
    const [inside, outside, count] = line.trim().split(/\s+/).map(Number);
    if (uid >= inside && uid - inside < count) return outside + (uid - inside);
  }
  return uid;
}

// The initial user namespace maps every id onto itself.
export function runningInUserNs(uidMap?: string): boolean {
  const lines = uidMapLines(uidMap);
  if (!lines) return false;
  return !(lines.length === 1 && lines[0].trim().split(/\s+/).join(' ') === '0 0 4294967295');
}
