// sysfs in a rootless container: with a network namespace of its own the container gets a new
// sysfs; without one the kernel refuses sysfs (EPERM) and the host's /sys is bound recursively,
// read-only as asked, instead.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { SKIP, makeUser, rlEnv, show } from './lib.mjs';

const SYSFS = {
  destination: '/sys',
  type: 'sysfs',
  source: 'sysfs',
  options: ['nosuid', 'noexec', 'nodev', 'ro'],
};
const PROBE =
  'awk \'$5 == "/sys" || $5 == "/sys/kernel/security" || $5 == "/sys/fs/fuse/connections" { print $5, $6 }\' /proc/self/mountinfo; ' +
  'echo net: $(ls /sys/class/net); touch /sys/kernel/x 2>/dev/null && echo writable || echo read-only';

function withSysfs(netns) {
  return (c) => {
    c.mounts = c.mounts.map((m) => (m.destination === '/sys' ? { ...SYSFS } : m));
    if (netns) c.linux.namespaces.push({ type: 'network' });
  };
}

describe('rootless sysfs', { skip: SKIP }, () => {
  let user;
  before(() => {
    user = makeUser();
  });
  after(() => user?.remove());

  test('no network namespace: the host /sys, bound recursively and read-only', (t) => {
    const e = rlEnv(t, user);
    const r = e.run(['run', '--bundle', e.bundle(['sh', '-c', PROBE], withSysfs(false)), e.id()]);
    assert.equal(r.code, 0, show(r));
    const host = fs.readdirSync('/sys/class/net').sort().join(' ');
    assert.match(r.stdout, new RegExp(`^net: ${host}$`, 'm'), 'the host interfaces: ' + show(r));
    assert.match(r.stdout, /^read-only$/m, show(r));
    // Every mount below /sys came along, and each is read-only too.
    const subs = r.stdout.split('\n').filter((l) => l.startsWith('/sys/'));
    for (const l of subs) assert.match(l, /^\S+ ro,/, `submount not read-only: ${l}`);
    assert.match(r.stdout, /^\/sys ro,/m, show(r));
  });

  test('its own network namespace: a new sysfs, showing only its loopback', (t) => {
    const e = rlEnv(t, user);
    const r = e.run(['run', '--bundle', e.bundle(['sh', '-c', PROBE], withSysfs(true)), e.id()]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^net: lo$/m, show(r));
    assert.match(r.stdout, /^read-only$/m, show(r));
  });
});
