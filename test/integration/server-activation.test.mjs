// `husk server` socket-activated as systemd does it (examples/husk-server.socket): another
// program makes the listening socket, puts it on fd 3, sets LISTEN_PID to its own pid and
// LISTEN_FDS=1, and execs the server. A call of the front binary is then served by it, and the
// socket file (systemd's) is left in place when the server stops. python3 plays systemd's part:
// Node cannot make a SOCK_SEQPACKET listener.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HUSK, SKIP, env, show, waitFor } from '../lib/harness.mjs';

const ACTIVATE = `
import os, socket, sys
d, husk = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(os.path.join(d, 'socket'))
s.listen(16)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ['LISTEN_PID'] = str(os.getpid())
os.environ['LISTEN_FDS'] = '1'
os.execv(husk, [husk, 'server', '--dir', d])
`;
const PYTHON =
  spawnSync('python3', ['-c', 'import socket; socket.AF_UNIX'], { stdio: 'ignore' }).status === 0;

test(
  'husk server takes the listening socket systemd hands it (LISTEN_FDS) and serves the front from it',
  { skip: SKIP || (!PYTHON && 'needs python3 to make the SOCK_SEQPACKET listener systemd would make') },
  async (t) => {
    const e = env(t);
    const dir = e.tmpdir('husk-test-activation-');
    fs.chmodSync(dir, 0o700);
    const server = spawn('python3', ['-c', ACTIVATE, dir, HUSK], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    server.stdout.on('data', (d) => (log += d));
    server.stderr.on('data', (d) => (log += d));
    const exited = new Promise((r) => server.on('exit', r));
    e.defer(async () => {
      server.kill('SIGKILL');
      await exited;
    });
    await waitFor(() => log.includes('listening'), 'the server to say it listens', 20_000);
    assert.match(log, /listening on .*socket \(inherited from systemd\)/);
    const r = e.husk(['list'], { env: { HUSK_SERVER_DIR: dir } });
    assert.equal(r.code, 0, show(r));
    server.kill('SIGTERM');
    await exited;
    assert.match(log, /stopped: 1 calls served/, `the call was not served by the activated server: ${log}`);
    assert.ok(fs.existsSync(path.join(dir, 'socket')), "the socket file is systemd's: left in place");
  },
);
