// src/host/lsm.ts detectLsm, and `husk features` reporting it: AppArmor and SELinux as the
// host has them, decided from fake hosts' files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, hostV2 } from './helpers.mjs';

const { detectLsm } = load('host/lsm.js');
const { features } = load('runtime/features.js');

const MOUNTS = '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n';

function fakeHost(files, mountinfo = MOUNTS) {
  return {
    exists: (p) => p in files,
    read: (p) => files[p] ?? '',
    mountinfo: () => mountinfo,
  };
}

test('AppArmor: enabled when the module says Y and its securityfs directory is there', () => {
  const on = { '/sys/module/apparmor/parameters/enabled': 'Y\n', '/sys/kernel/security/apparmor': '' };
  assert.deepEqual(detectLsm(fakeHost(on)), { apparmor: true, selinux: false });
  // Built in but booted with apparmor=0, or securityfs not mounted: not usable.
  assert.equal(
    detectLsm(fakeHost({ ...on, '/sys/module/apparmor/parameters/enabled': 'N' })).apparmor,
    false,
  );
  assert.equal(detectLsm(fakeHost({ '/sys/module/apparmor/parameters/enabled': 'Y' })).apparmor, false);
  assert.deepEqual(detectLsm(fakeHost({})), { apparmor: false, selinux: false });
});

test('SELinux: enabled where selinuxfs is mounted with its enforce file, at /sys/fs/selinux or elsewhere', () => {
  assert.deepEqual(detectLsm(fakeHost({ '/sys/fs/selinux/enforce': '1' })), {
    apparmor: false,
    selinux: true,
  });
  const elsewhere = MOUNTS + '40 22 0:40 / /selinux rw,relatime - selinuxfs selinuxfs rw\n';
  assert.equal(detectLsm(fakeHost({ '/selinux/enforce': '0' }, elsewhere)).selinux, true);
  assert.equal(
    detectLsm(fakeHost({}, elsewhere)).selinux,
    false,
    'a selinuxfs mount without its enforce file',
  );
});

test('husk features reports the host’s AppArmor and SELinux, not a fixed false', () => {
  for (const [apparmor, selinux] of [
    [true, false],
    [false, true],
    [false, false],
  ]) {
    const f = features({ ...hostV2(), apparmor, selinux });
    assert.deepEqual(f.linux.apparmor, { enabled: apparmor });
    assert.deepEqual(f.linux.selinux, { enabled: selinux });
  }
});
