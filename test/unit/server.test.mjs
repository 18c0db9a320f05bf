// The husk server's wire format (src/server/protocol.ts): requests, messages and wait statuses.
// Calls through a real server are in test/integration/server-calls.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './helpers.mjs';

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
