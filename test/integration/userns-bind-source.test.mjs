// A bind source the container's mapped user cannot reach: a 0700 root-owned host directory
// (and a file inside one) bound into a container whose user namespace maps root to an
// unprivileged id. runc opens the source before the user namespace takes effect and binds by
// fd; husk's init has a helper with the host's privileges open it (src/plan/bind-sources.ts).
// Run against husk and runc alike (RUNTIME=/usr/sbin/runc).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { SKIP, env, makeBundle, show } from '../lib/harness.mjs';

const RUNTIME = process.env.RUNTIME ? path.resolve(process.env.RUNTIME) : undefined;
const HOST_ID = 100000;

function userns(c, b) {
  fs.chmodSync(b.dir, 0o755); // the rootfs stays reachable by the mapped root
  c.linux.namespaces.push({ type: 'user' });
  c.linux.uidMappings = [{ containerID: 0, hostID: HOST_ID, size: 65536 }];
  c.linux.gidMappings = [{ containerID: 0, hostID: HOST_ID, size: 65536 }];
}

function run(t, script, mutate) {
  const e = env(t, { runtime: RUNTIME });
  const b = makeBundle(t, mutate, { args: ['sh', '-c', script] });
  return e.husk(['run', '--bundle', b.dir, e.id('c')]);
}

describe(`bind sources the mapped root cannot reach (${RUNTIME ?? 'husk'})`, { skip: SKIP }, () => {
  test('a 0700 root-owned host dir and a file inside one are bound', (t) => {
    const e = env(t, { runtime: RUNTIME });
    const dir = e.tmpdir('husk-test-private-'); // mkdtemp: 0700, root's
    const holder = e.tmpdir('husk-test-private-');
    fs.writeFileSync(path.join(holder, 'file'), 'secret-ish\n');
    fs.chmodSync(path.join(holder, 'file'), 0o644);
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    // Control: the mapped root's host id indeed cannot reach the file by its path.
    const probe = spawnSync(
      'setpriv',
      [`--reuid=${HOST_ID}`, `--regid=${HOST_ID}`, '--clear-groups', 'cat', path.join(holder, 'file')],
      { encoding: 'utf8' },
    );
    if (probe.error) return t.skip('needs setpriv (util-linux) for the control');
    assert.notEqual(probe.status, 0, `uid ${HOST_ID} can read ${holder}/file: the test proves nothing`);
    assert.match(probe.stderr, /Permission denied/);
    // Onto directories and files the image has: the mapped root may not create any.
    const r = run(t, 'ls /home; cat /etc/hostname; stat -c %u /home', (c, b) => {
      userns(c, b);
      c.mounts.push({ destination: '/home', type: 'bind', source: dir, options: ['rbind', 'ro'] });
      c.mounts.push({
        destination: '/etc/hostname',
        type: 'bind',
        source: path.join(holder, 'file'),
        options: ['bind', 'ro'],
      });
    });
    assert.equal(r.code, 0, show(r));
    // Both are bound: the file reads, and /home is the host's root-owned directory (unmapped:
    // the overflow uid 65534 inside, and 0700 keeps the container's root from listing it).
    assert.equal(r.stdout, 'secret-ish\n65534\n', show(r));
  });
});
