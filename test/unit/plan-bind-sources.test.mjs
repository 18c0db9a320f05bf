// Bind sources in a user namespace: opened by husk-init's helper with the host's privileges
// (SOURCE_HELPER before the user namespace, SOURCE_FDS after the mount namespace, before the
// fork), each bind's MOUNT op naming its slot; nothing of it without a user namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, hostV2 } from './helpers.mjs';

const { buildPlan } = load('plan/index.js');

function plan(userns, mounts) {
  const spec = {
    ociVersion: '1.0.2',
    root: { path: 'rootfs' },
    process: { args: ['true'], cwd: '/', user: { uid: 0, gid: 0 } },
    mounts,
    linux: userns
      ? {
          namespaces: [{ type: 'mount' }, { type: 'user' }],
          uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
          gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
        }
      : { namespaces: [{ type: 'mount' }] },
  };
  return buildPlan(spec, hostV2({ cgroupMode: 'none', unified: null }), { id: 'c', bundle: '/b' }).ops;
}

const MOUNTS = [
  { destination: '/proc', type: 'proc', source: 'proc' },
  { destination: '/a', type: 'bind', source: 'rel/a', options: ['rbind'] },
  { destination: '/t', type: 'tmpfs', source: 'tmpfs' },
  { destination: '/b', source: '/host/b', options: ['bind', 'ro'] },
];

test('in a user namespace: one helper for every bind source, fds before the fork, a slot per bind', () => {
  const ops = plan(true, MOUNTS);
  const names = ops.map((o) => o.op);
  const helper = ops.find((o) => o.op === 'SOURCE_HELPER');
  assert.deepEqual(helper.fields, [{ strv: ['/b/rel/a', '/host/b'] }]);
  assert.ok(
    names.indexOf('SOURCE_HELPER') < names.indexOf('USERNS'),
    'the helper keeps the host credentials',
  );
  assert.ok(names.indexOf('SOURCE_FDS') > names.lastIndexOf('UNSHARE'), 'after the mount namespace is made');
  assert.equal(names.indexOf('SOURCE_FDS') + 1, names.indexOf('FORK_INIT'));
  // Bind mounts (kind 1) carry their slot; the other kinds use the field for their own ends.
  const binds = ops.filter((o) => o.op === 'MOUNT' && o.fields[0].u32 === 1);
  assert.deepEqual(
    binds.map((o) => [o.fields[2].str, o.fields[10].u32]),
    [
      ['/a', 1],
      ['/b', 2],
    ],
  );
});

test('without a user namespace: no helper, binds from their paths', () => {
  const ops = plan(false, MOUNTS);
  assert.ok(!ops.some((o) => o.op === 'SOURCE_HELPER' || o.op === 'SOURCE_FDS'));
  const binds = ops.filter((o) => o.op === 'MOUNT' && o.fields[0].u32 === 1);
  assert.equal(binds.length, 2);
  assert.ok(binds.every((o) => o.fields[10].u32 === 0));
});
