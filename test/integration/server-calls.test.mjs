// Calls through a husk server of the test's own, in a temp dir, that make no container: the
// caller's cwd, umask, stdio and exit code reach the call; its stdout reaches end of file when
// the front exits (the server keeps no copy).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO } from '../lib/harness.mjs';
import { startHuskServer } from '../lib/husk-server.mjs';

const FRONT = path.join(REPO, 'bin', 'husk');
const built = fs.existsSync(path.join(REPO, 'build', 'Release', 'husk'))
  ? false
  : 'the front is not built (npm install)';

test('calls through a server: cwd, umask, stdio, exit codes', { skip: built }, async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-server-calls-'));
  // Registered before the server starts, so a server that fails to start leaves no directory.
  let server = null;
  t.after(async () => {
    try {
      await server?.stop();
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
  server = await startHuskServer(path.join(work, 'server'));
  const env = { ...process.env, HUSK_SERVER_DIR: server.dir };
  const front = (script) =>
    spawnSync('/bin/sh', ['-c', script, 'sh', FRONT], { cwd: work, env, encoding: 'utf8', timeout: 20_000 });

  // A relative --bundle is the caller's cwd's, and the file gets the caller's umask.
  fs.mkdirSync(path.join(work, 'b'));
  let r = front('umask 077; "$1" spec --bundle b');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(fs.statSync(path.join(work, 'b', 'config.json')).mode & 0o777, 0o600);
  r = front('"$1" spec --bundle b');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^husk: .*config\.json.*exists/m);

  // A relative --root, output on the caller's stdout (a pipe that reaches its end), exit codes.
  fs.mkdirSync(path.join(work, 'root'));
  r = front('"$1" --root root list --format json');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), null, 'no containers: null, as runc prints it');
  r = front('"$1" --root root state nosuch');
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^husk: container nosuch does not exist$/m);

  // --version is answered by the server too.
  r = front('"$1" --version');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^husk version /);

  const tally = await server.stop();
  assert.equal(tally.served, 5, tally.log);
  assert.equal(tally.handedBack, 0, tally.log);
});
