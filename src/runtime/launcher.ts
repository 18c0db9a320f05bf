// Who starts a container's init and waits for it. The CLI and the library do it themselves
// (the addon vforks husk-init); the husk server has the caller's front process do it, so the
// init is the caller's descendant, as under runc (src/server/front-launcher.ts).
import { native, type ExitStatus, type SpawnRequest } from '../native';

export type { SpawnRequest };
import { forwardSignals } from './signals';

export interface Launcher {
  spawn(req: SpawnRequest): Promise<{ pid: number; syncFd: number }>;
  // A child that has exited or was just killed: collect it.
  reap(pid: number): void;
  // The exit status of a container process the launcher started.
  wait(pid: number): Promise<ExitStatus>;
  // While a process runs in the foreground (run, exec), the signals the caller gets are its.
  // Resolves, once forwarding is in place, to the function that stops it.
  forwardSignals(pid: number): Promise<() => void>;
  // Whether this process can relay a terminal between the caller and the container (run -t, exec
  // -t without --console-socket): the husk server cannot.
  relaysTerminal: boolean;
}

export const localLauncher: Launcher = {
  spawn: (req) => (req.background ? native().spawnAsync(req) : Promise.resolve(native().spawn(req))),
  reap: (pid) => void native().reap(pid, true),
  wait: (pid) => native().wait(pid),
  forwardSignals: (pid) => Promise.resolve(forwardSignals(pid)),
  relaysTerminal: true,
};
