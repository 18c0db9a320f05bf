// The addon's one error convention: a failed call throws an Error whose message names the step
// and whose `code` is the errno's own name, as Node's errors have (not a catch-all).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { load } from './helpers.mjs';

const { native } = load('native/index.js');

function codeOf(fn) {
  try {
    fn();
  } catch (e) {
    return { code: e.code, errno: e.errno, message: e.message };
  }
  assert.fail('expected the call to throw');
}

test('errno names: ENOENT, EBADF, ECONNREFUSED, ENOTDIR', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-native-errors-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const n = native();
  const missing = codeOf(() => n.releaseFifo(path.join(dir, 'no-such-fifo')));
  assert.equal(missing.code, 'ENOENT');
  assert.match(missing.message, /^open exec fifo .*no-such-fifo: No such file or directory$/);
  const badFd = codeOf(() => n.flock(-1, 2));
  assert.deepEqual([badFd.code, badFd.errno], ['EBADF', 9]);
  // A socket file that nobody listens on.
  const plain = path.join(dir, 'file');
  fs.writeFileSync(plain, '');
  assert.equal(codeOf(() => n.connectUnix(plain)).code, 'ECONNREFUSED');
  assert.equal(codeOf(() => n.mkfifo(path.join(plain, 'x'), 0o600)).code, 'ENOTDIR');
});
