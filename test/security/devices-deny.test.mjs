// Issue 17 item 4: linux.devices must not undo a device deny. A node listed in linux.devices is
// made in the container's /dev, but whether the container may open it is decided by the cgroup
// rules alone: the config's linux.resources.devices plus runc's defaults. husk used to add an
// allow rule for every linux.devices node, so a deny-all config with /dev/kmsg listed let the
// container write the host's kernel log. runc makes the node and keeps it denied.
//
// The signal: opening the node for writing (`true >`, which writes nothing). /dev/kmsg needs no
// capability to be opened write-only, so only the devices cgroup can refuse it; the control
// (the same node with an explicit allow rule) shows the open succeeds when the rules allow it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { SKIP, secEnv, show } from './lib.mjs';

// Whether this host enforces device rules at all: a v1 devices controller, or cgroup v2 (eBPF).
function devicesCgroup() {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  const v1 = mounts.some((l) => / - cgroup cgroup /.test(l) && /[\s,]devices(,|$)/.test(l.split(' ').at(-1)));
  const v2Only = mounts.some((l) => / \/sys\/fs\/cgroup .* - cgroup2 /.test(l));
  return v1 || v2Only;
}

const NO_DEVICES = !fs.existsSync('/dev/kmsg')
  ? 'this host has no /dev/kmsg'
  : !devicesCgroup()
    ? 'this host has no devices cgroup (v1 devices controller or cgroup v2)'
    : false;

const KMSG = { path: '/dev/kmsg', type: 'c', major: 1, minor: 11, fileMode: 0o666, uid: 0, gid: 0 };
const PROBE = [
  'sh',
  '-c',
  'ls -l /dev/kmsg | cut -c1; if { true > /dev/kmsg; } 2>/dev/null; then echo kmsg=open; else echo kmsg=denied; fi',
];

function runWith(t, resourcesDevices) {
  const e = secEnv(t);
  const b = e.bundle({
    sharedRootfs: true,
    args: PROBE,
    mutate: (c) => {
      c.linux.resources = { ...c.linux.resources, devices: resourcesDevices };
      c.linux.devices = [KMSG];
    },
  });
  const id = e.id('kmsg');
  const r = e.husk(['run', '--bundle', b.dir, id]);
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /^c$/m, `/dev/kmsg was not made as a character device: ${show(r)}`);
  return r.stdout;
}

describe('issue 17 item 4: linux.devices does not undo a device deny', { skip: SKIP || NO_DEVICES }, () => {
  test('control: /dev/kmsg in linux.devices with an explicit allow rule opens', (t) => {
    const out = runWith(t, [
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 1, minor: 11, access: 'rw' },
    ]);
    assert.match(out, /^kmsg=open$/m);
  });

  test('deny-all and /dev/kmsg in linux.devices: the node is made, opening it is denied', (t) => {
    const out = runWith(t, [{ allow: false, access: 'rwm' }]);
    assert.match(out, /^kmsg=denied$/m);
  });

  test('an explicit deny of the node after allow rules still holds', (t) => {
    const out = runWith(t, [
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
      { allow: false, type: 'c', major: 1, minor: 11, access: 'rwm' },
    ]);
    assert.match(out, /^kmsg=denied$/m);
  });
});
