// The runtime's end of the sync socket, as one seam: the addon by default, a fake in the unit
// tests (test/unit/launch-handshake.test.mjs), so the handshake is tested without root.
import fs = require('node:fs');
import { native, type SyncMessage } from '../../native';

export interface SyncIo {
  // The next message (null when the init closed its end); throws errno ETIMEDOUT past the time.
  recv(fd: number, timeoutMs: number): Promise<SyncMessage | null>;
  reply(fd: number, type: number): void;
  sendData(fd: number, data: Buffer): void;
  close(fd: number): void;
  kill(pid: number): void; // SIGKILL; a process already gone is no error
}

// In process (the library, the server) the wait is off the main thread, so other work goes on;
// the CLI has nothing else to do and waits in place.
export function syncIo(inProcess: boolean): SyncIo {
  return {
    recv: (fd, ms) => (inProcess ? native().recvAsync(fd, ms) : Promise.resolve(native().recv(fd, ms))),
    reply: (fd, type) => native().reply(fd, type),
    sendData: (fd, data) => native().sendData(fd, data),
    close: (fd) => fs.closeSync(fd),
    kill: (pid) => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    },
  };
}
