// The husk server's wire format (src/server/protocol.ts) and, with a server of the test's own
// in a temp dir, calls that make no container (so no root is needed): the caller's cwd, umask,
// stdio and exit code reach the call; its stdout reaches end of file when the
// front exits (the server keeps no copy).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { load, repoRoot } from './helpers.mjs';
import { startHuskServer } from '../lib/husk-server.mjs';

const { decodeRequest, encodeMsg, decodeMsg, statusOf, MSG } = load('server/protocol.js');

// A REQUEST as addon/front/main.cc writes it.
function request(cwd, args, env, umask = 0o22) {
  const head = Buffer.alloc(16);
  head.writeUInt32LE(MSG.REQUEST, 0);
  head.writeInt32LE(args.length, 4);
  head.writeInt32LE(env.length, 8);
  head.writeUInt32LE(umask, 12);
  return Buffer.concat([head, Buffer.from([cwd, ...args, ...env].map((s) => s + '\0').join(''))]);
}

test('a request decodes to cwd, arguments, environment and umask', () => {
  const r = decodeRequest(request('/some/dir', ['state', 'x y'], ['A=1', 'B=with=equals', 'EMPTY='], 0o77));
  assert.deepEqual(r, {
    cwd: '/some/dir',
    args: ['state', 'x y'],
    env: { A: '1', B: 'with=equals', EMPTY: '' },
    umask: 0o77,
  });
  assert.deepEqual(decodeRequest(request('/', [], [])), { cwd: '/', args: [], env: {}, umask: 0o22 });
});

test('malformed requests are refused', () => {
  const good = request('/d', ['state', 'x'], ['A=1']);
  assert.equal(decodeRequest(good.subarray(0, good.length - 1)), null, 'no final NUL');
  const more = Buffer.from(good);
  more.writeInt32LE(3, 4); // says three arguments
  assert.equal(decodeRequest(more), null);
  const neg = Buffer.from(good);
  neg.writeInt32LE(-1, 8);
  assert.equal(decodeRequest(neg), null);
  const other = Buffer.from(good);
  other.writeUInt32LE(MSG.SPAWNED, 0);
  assert.equal(decodeRequest(other), null);
  assert.equal(decodeRequest(Buffer.alloc(8)), null);
});

test('messages and wait statuses', () => {
  assert.deepEqual(decodeMsg(encodeMsg({ type: MSG.SPAWN, a: 2, b: -13, c: 0b1011 })), {
    type: MSG.SPAWN,
    a: 2,
    b: -13,
    c: 0b1011,
  });
  assert.deepEqual(statusOf(7 << 8), { code: 7, signal: null });
  assert.deepEqual(statusOf(0), { code: 0, signal: null });
  assert.deepEqual(statusOf(15), { code: null, signal: 15 });
  assert.deepEqual(statusOf(9 | 0x80), { code: null, signal: 9 }, 'core dumped');
});

const FRONT = path.join(repoRoot, 'bin', 'husk');
const built = fs.existsSync(path.join(repoRoot, 'build', 'Release', 'husk'))
  ? false
  : 'the front is not built (npm install)';

test('calls through a server: cwd, umask, stdio, exit codes', { skip: built }, async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-unit-server-'));
  const server = await startHuskServer(path.join(work, 'server'));
  t.after(async () => {
    await server.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });
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
  assert.deepEqual(JSON.parse(r.stdout), []);
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
