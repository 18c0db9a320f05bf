// src/server/socket-activation.ts: `husk server` started by systemd's husk-server.socket takes
// the listening socket on fd 3 (LISTEN_PID = its pid, LISTEN_FDS = 1), moves it to a
// close-on-exec fd and clears the variables; anything else is refused or ignored, as
// sd_listen_fds(3) says. Each case runs in a child whose fd 3 is a socket (a node stdio pipe).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'out');
const CHILD = `
const fs = require('fs');
const { inheritedListener } = require(${JSON.stringify(path.join(OUT, 'server', 'socket-activation.js'))});
let r;
try {
  const fd = inheritedListener();
  const flags = fd === null ? null : /flags:\\s*(\\d+)/.exec(fs.readFileSync('/proc/self/fdinfo/' + fd, 'utf8'))[1];
  let fd3 = 'open';
  try { fs.fstatSync(3); } catch { fd3 = 'closed'; }
  r = { fd, socket: fd === null ? null : fs.fstatSync(fd).isSocket(), cloexec: flags === null ? null : (parseInt(flags, 8) & 0o2000000) !== 0, fd3,
        env: ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'].filter((k) => k in process.env) };
} catch (e) { r = { error: e.name + ': ' + e.message }; }
process.stdout.write(JSON.stringify(r));
`;

// sh's exec keeps its pid, so LISTEN_PID=$$ names the node process, as systemd's does.
/**
 * @param {string} listenPid
 * @param {number} fds
 * @param {'pipe' | number} [fd3]
 */
function activated(listenPid, fds, fd3 = 'pipe') {
  const r = spawnSync(
    'sh',
    [
      '-c',
      `LISTEN_PID=${listenPid} LISTEN_FDS=${fds} LISTEN_FDNAMES=husk exec "$0" -e "$1"`,
      process.execPath,
      CHILD,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', fd3] },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('inheritedListener: fd 3 becomes a close-on-exec fd, fd 3 is closed, the variables are gone', () => {
  const r = activated('$$', 1);
  assert.ok(r.fd >= 10, JSON.stringify(r));
  assert.deepEqual({ ...r, fd: 'n' }, { fd: 'n', socket: true, cloexec: true, fd3: 'closed', env: [] });
});

test('inheritedListener: LISTEN_PID of another process: not ours (null), fd 3 left alone, variables cleared', () => {
  assert.deepEqual(activated('1', 1), { fd: null, socket: null, cloexec: null, fd3: 'open', env: [] });
});

test('inheritedListener: more than one socket, or fd 3 not a socket, is refused naming LISTEN_FDS', (t) => {
  assert.match(activated('$$', 2).error, /^HuskError: LISTEN_FDS=2: husk server listens on one socket/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-activation-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = fs.openSync(path.join(dir, 'f'), 'w');
  t.after(() => fs.closeSync(file));
  assert.match(activated('$$', 1, file).error, /^HuskError: LISTEN_FDS=1, but fd 3 is not a socket/);
});
