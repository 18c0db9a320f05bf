import fs = require('node:fs');
import path = require('node:path');
import { HuskError } from '../errors';
// What every runtime operation needs: the state store, the logger, the host facts.
import { Logger } from '../log';
import { Store } from '../state/store';
import { localLauncher, type Launcher } from './launcher';
import { runningInUserNs } from '../host/userns';
import { parseRootlessFlag, resolveRootless } from './rootless';

export interface RuntimeContext {
  store: Store;
  log: Logger;
  // Cgroups as an unprivileged caller's: only delegated ones, no device rules (--rootless).
  rootless: boolean;
  // --systemd-cgroup: new containers get their cgroups from systemd (a transient unit).
  systemdCgroup?: boolean;
  // In-process use (the library): waits for a container's init happen off the main thread, so
  // the caller's event loop keeps running. The CLI has nothing else to do and waits in place.
  inProcess?: boolean;
  launcher: Launcher;
  // A long-lived process making many containers (the library, the husk server) keeps the parent
  // of default cgroup paths (/husk in each hierarchy) instead of making and removing it for each
  // one; the empty ones go when the process exits.
  keepCgroupParents?: boolean;
}

// runc's rule: root's state is under /run/husk, anyone else's under $XDG_RUNTIME_DIR/husk. Root
// inside a user namespace (rootless podman runs its runtime so) is someone else too, unless its
// USER says root: runc checks the namespace, not only the euid, and so does husk.
export function defaultRoot(): string {
  const euid = process.geteuid?.() ?? 0;
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg && honorsXdgRuntimeDir(euid, process.env.USER, runningInUserNs)) return path.join(xdg, 'husk');
  if (euid === 0) return '/run/husk';
  const fallback = `/run/user/${euid}`;
  if (fs.existsSync(fallback)) return path.join(fallback, 'husk');
  throw new HuskError(
    'no --root given and XDG_RUNTIME_DIR is not set: give --root DIR (a directory you can write)',
  );
}

export function honorsXdgRuntimeDir(
  euid: number,
  user: string | undefined,
  inUserNs: () => boolean,
): boolean {
  if (euid !== 0) return true;
  if (!inUserNs()) return false; // the real root: /run/husk even with XDG_RUNTIME_DIR set
  return user !== 'root';
}

export function makeContext(
  opts: {
    root?: string;
    log?: Logger;
    rootless?: string | boolean;
    systemdCgroup?: boolean;
    inProcess?: boolean;
    launcher?: Launcher;
    keepCgroupParents?: boolean;
  } = {},
): RuntimeContext {
  const flag = parseRootlessFlag(opts.rootless);
  let rootless: boolean | undefined;
  return {
    store: new Store(opts.root ?? defaultRoot()),
    log: opts.log ?? new Logger(),
    // Only create asks, so the other verbs do not read /proc/self/uid_map.
    get rootless() {
      return (rootless ??= resolveRootless(flag, process.geteuid?.() ?? 0, () => runningInUserNs()));
    },
    systemdCgroup: !!opts.systemdCgroup,
    inProcess: !!opts.inProcess,
    launcher: opts.launcher ?? localLauncher,
    keepCgroupParents: opts.keepCgroupParents ?? !!opts.inProcess,
  };
}
