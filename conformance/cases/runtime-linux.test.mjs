// runtime-linux.md: the file descriptors the program gets, and the /dev symbolic links.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { check } from '../lib/harness.mjs';
import { shConfig } from '../lib/config.mjs';
import { cmdlineOf, waitFor } from '../lib/host.mjs';

check(
  'fds.only-stdio',
  'runtime-linux.md#file-descriptors',
  'the program has only stdin, stdout and stderr open',
  async (env) => {
    const c = await env.started(shConfig('exec sleep 600'));
    assert.ok(await waitFor(() => cmdlineOf(c.pid)?.[0] === 'sleep'), 'the program did not start');
    const fds = fs.readdirSync(`/proc/${c.pid}/fd`).sort();
    assert.deepEqual(
      fds,
      ['0', '1', '2'],
      `open fds: ${fds.map((f) => `${f} -> ${fs.readlinkSync(`/proc/${c.pid}/fd/${f}`)}`).join(', ')}`,
    );
  },
);

check(
  'fds.stdio-passed',
  'runtime-linux.md#file-descriptors',
  "the program's stdout and stderr are the caller's",
  async (env) => {
    const c = await env.started(shConfig('echo to-stdout; echo to-stderr >&2'));
    await env.waitStatus(c.id, 'stopped');
    const out = env.rt.output(c.id);
    assert.equal(out.stdout, 'to-stdout\n');
    assert.match(out.stderr, /^to-stderr$/m);
    assert.doesNotMatch(out.stdout, /to-stderr/);
  },
);

for (const [link, target] of [
  ['/dev/fd', '/proc/self/fd'],
  ['/dev/stdin', '/proc/self/fd/0'],
  ['/dev/stdout', '/proc/self/fd/1'],
  ['/dev/stderr', '/proc/self/fd/2'],
]) {
  check(
    `dev-symlinks.${link.slice(5)}`,
    'runtime-linux.md#dev-symbolic-links',
    `${link} is a symlink to ${target}`,
    async (env) => {
      const out = await env.insideOk(shConfig(`[ -L ${link} ] && readlink ${link}`), null);
      assert.equal(out, `${target}\n`);
    },
  );
}

check(
  'dev-symlinks.usable',
  'runtime-linux.md#dev-symbolic-links',
  '/dev/stdout and /dev/stderr reach the caller',
  async (env) => {
    const r = await env.inside(
      shConfig('echo via-dev-stdout > /dev/stdout; echo via-dev-stderr > /dev/stderr'),
      null,
    );
    assert.equal(r.stdout, 'via-dev-stdout\n');
    assert.match(r.stderr, /via-dev-stderr/);
  },
);
