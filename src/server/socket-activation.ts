// systemd socket activation (sd_listen_fds(3)): a `husk server` started by husk-server.socket
// gets its listening socket as fd 3, with LISTEN_PID naming this process and LISTEN_FDS the
// count. The variables are removed whatever they say, so that nothing the server runs (hooks,
// containers) sees them; the fd is moved to a close-on-exec copy, so that no container inherits it.
import fs = require('node:fs');
import { HuskError } from '../errors';
import { native } from '../native';

const FIRST = 3; // SD_LISTEN_FDS_START

/** The inherited listening socket's fd, or null when the server was not socket-activated. */
export function inheritedListener(env: NodeJS.ProcessEnv = process.env): number | null {
  const pid = env.LISTEN_PID;
  const count = env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  // Meant for another process (an ancestor's, passed down by mistake): not ours to use.
  if (count === undefined || pid === undefined || Number(pid) !== process.pid) return null;
  const n = Number(count);
  if (!Number.isInteger(n) || n < 1) return null;
  if (n > 1)
    throw new HuskError(
      `LISTEN_FDS=${count}: husk server listens on one socket (ListenSequentialPacket=, once)`,
    );
  let st: fs.Stats;
  try {
    st = fs.fstatSync(FIRST);
  } catch (e) {
    throw new HuskError(`LISTEN_FDS=1, but fd ${FIRST}: ${(e as Error).message}`);
  }
  if (!st.isSocket())
    throw new HuskError(
      `LISTEN_FDS=1, but fd ${FIRST} is not a socket (the .socket unit needs ListenSequentialPacket=)`,
    );
  const fd = native().dupFd(FIRST);
  fs.closeSync(FIRST);
  return fd;
}
