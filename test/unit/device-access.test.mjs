// linux.resources.devices access strings as runc 1.1.5 reads them: the r, w and m named, an
// `a` adding nothing; on cgroup v1 files, the v2 program and the systemd rules alike (one reading).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, throwsHusk } from './helpers.mjs';

const { deviceAccess } = load('plan/devices.js');
const { containerDeviceRules } = load('plan/cgroups.js');

test('deviceAccess: r, w, m once each, in order; a adds nothing', () => {
  assert.equal(deviceAccess(undefined), 'rwm');
  assert.equal(deviceAccess('rwa'), 'rw');
  assert.equal(deviceAccess('mmr'), 'rm');
  assert.equal(deviceAccess('a'), '');
});

test('containerDeviceRules: normalised access; a deny of nothing dropped; an empty allow refused', () => {
  const kmsg = { type: 'c', major: 1, minor: 11 };
  const rules = containerDeviceRules(
    [
      { allow: false, access: 'a' },
      { allow: true, ...kmsg, access: 'rwa' },
    ],
    [],
  );
  assert.deepEqual(rules[0], {
    rule: { allow: true, ...kmsg, access: 'rw' },
    from: '/linux/resources/devices/1',
  });
  throwsHusk(() => containerDeviceRules([{ allow: true, ...kmsg, access: 'a' }], []), /devices\/0\/access/);
  throwsHusk(() => containerDeviceRules([{ allow: false, access: '' }], []), /devices\/0\/access/);
});
