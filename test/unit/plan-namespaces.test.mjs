// src/plan/namespaces.ts: clone flags, the order namespaces are joined by path, id maps, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, throwsHusk } from './helpers.mjs';

const { planNamespaces, formatIdMap, hostId, CLONE } = load('plan/namespaces.js');

// linux/sched.h
const K = {
  mount: 0x00020000,
  uts: 0x04000000,
  ipc: 0x08000000,
  user: 0x10000000,
  pid: 0x20000000,
  network: 0x40000000,
  cgroup: 0x02000000,
  time: 0x00000080,
};

const MAPS = {
  uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
  gidMappings: [{ containerID: 0, hostID: 200000, size: 65536 }],
};
const plan = (namespaces, extra = {}) => planNamespaces({ linux: { namespaces, ...extra } });

test('CLONE flags are the kernel values', () => {
  assert.deepEqual({ ...CLONE }, K);
});

test('new namespaces: each flag in newFlags, user apart', () => {
  for (const t of ['mount', 'uts', 'ipc', 'pid', 'network', 'cgroup']) {
    const p = plan([{ type: t }]);
    assert.equal(p.newFlags, K[t], t);
    assert.equal(p.newUser, false);
    assert.deepEqual([...p.has], [t]);
    assert.deepEqual(p.join, []);
  }
  const all = plan(
    [
      { type: 'pid' },
      { type: 'network' },
      { type: 'ipc' },
      { type: 'uts' },
      { type: 'mount' },
      { type: 'cgroup' },
      { type: 'user' },
    ],
    MAPS,
  );
  assert.equal(all.newFlags, K.pid | K.network | K.ipc | K.uts | K.mount | K.cgroup);
  assert.equal(all.newFlags & K.user, 0, 'the user namespace is made on its own (USERNS), not in UNSHARE');
  assert.equal(all.newUser, true);
  assert.equal(all.has.size, 7);
});

test('no namespaces at all', () => {
  const p = planNamespaces({});
  assert.equal(p.newFlags, 0);
  assert.equal(p.newUser, false);
  assert.equal(p.has.size, 0);
  assert.equal(p.uidMap, '');
});

test('joined namespaces: user first, mount last, whatever the config order', () => {
  const p = plan(
    [
      { type: 'mount', path: '/proc/9/ns/mnt' },
      { type: 'network', path: '/run/netns/a' },
      { type: 'time', path: '/proc/9/ns/time' },
      { type: 'pid', path: '/proc/9/ns/pid' },
      { type: 'cgroup', path: '/proc/9/ns/cgroup' },
      { type: 'uts', path: '/proc/9/ns/uts' },
      { type: 'ipc', path: '/proc/9/ns/ipc' },
      { type: 'user', path: '/proc/9/ns/user' },
    ],
    MAPS,
  );
  assert.deepEqual(
    p.join.map((o) => o.show.type),
    ['user', 'ipc', 'uts', 'network', 'pid', 'cgroup', 'time', 'mount'],
  );
  assert.ok(p.join.every((o) => o.op === 'SETNS'));
  const net = p.join.find((o) => o.show.type === 'network');
  assert.equal(net.from, '/linux/namespaces/1');
  assert.deepEqual(net.fields, [{ u32: K.network }, { str: '/run/netns/a' }]);
  assert.deepEqual(p.join[0].fields, [{ u32: K.user }, { str: '/proc/9/ns/user' }]);
  assert.equal(p.newFlags, 0);
  assert.equal(p.newUser, false, 'joining a user namespace is not making one');
  assert.equal(p.uidMap, '', 'maps are written only for a new user namespace');
  assert.equal(p.has.size, 8);
});

test('a mix of joined and new namespaces', () => {
  const p = plan([{ type: 'pid' }, { type: 'network', path: '/run/netns/x' }, { type: 'mount' }]);
  assert.equal(p.newFlags, K.pid | K.mount);
  assert.deepEqual(
    p.join.map((o) => o.show),
    [{ type: 'network', path: '/run/netns/x' }],
  );
});

test('a new user namespace carries its maps, formatted for /proc/<pid>/uid_map', () => {
  const p = plan([{ type: 'user' }, { type: 'mount' }], {
    uidMappings: [
      { containerID: 0, hostID: 1000, size: 1 },
      { containerID: 1, hostID: 100000, size: 65536 },
    ],
    gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
  });
  assert.equal(p.uidMap, '0 1000 1\n1 100000 65536\n');
  assert.equal(p.gidMap, '0 1000 1\n');
});

test('namespace errors name the entry', () => {
  throwsHusk(
    () => plan([{ type: 'mount' }, { type: 'bogus' }]),
    /^\/linux\/namespaces\/1\/type: unknown namespace type "bogus"/,
  );
  throwsHusk(
    () => plan([{ type: 'pid' }, { type: 'mount' }, { type: 'pid', path: '/proc/1/ns/pid' }]),
    /^\/linux\/namespaces\/2\/type: namespace "pid" is listed twice/,
  );
  throwsHusk(
    () => plan([{ type: 'network', path: 'proc/1/ns/net' }]),
    /^\/linux\/namespaces\/0\/path: "proc\/1\/ns\/net" must be absolute/,
  );
  throwsHusk(
    () => plan([{ type: 'mount' }, { type: 'user' }]),
    /^\/linux\/uidMappings: a new user namespace needs uid mappings/,
  );
  throwsHusk(
    () => plan([{ type: 'user' }], { uidMappings: MAPS.uidMappings }),
    /^\/linux\/gidMappings: a new user namespace needs gid mappings/,
  );
  throwsHusk(() => plan([{ type: 'user' }], { uidMappings: [], gidMappings: [] }), /^\/linux\/uidMappings: /);
  throwsHusk(
    () => plan([{ type: 'mount' }], MAPS),
    /^\/linux\/uidMappings: id mappings need a user namespace/,
  );
  throwsHusk(
    () => plan([{ type: 'mount' }], { gidMappings: MAPS.gidMappings }),
    /id mappings need a user namespace/,
  );
  throwsHusk(
    () => plan([{ type: 'mount' }, { type: 'time' }]),
    /^\/linux\/namespaces\/1\/type: a new time namespace is not supported yet/,
  );
});

test('maps with a joined user namespace are accepted (and not written)', () => {
  const p = plan([{ type: 'user', path: '/proc/5/ns/user' }], MAPS);
  assert.equal(p.uidMap, '');
  assert.equal(p.gidMap, '');
});

test('namespace types that are Object.prototype keys are rejected', () => {
  throwsHusk(
    () => plan([{ type: 'mount' }, { type: 'toString' }]),
    /^\/linux\/namespaces\/1\/type: unknown namespace type/,
  );
});

test('formatIdMap', () => {
  assert.equal(formatIdMap(undefined), '');
  assert.equal(formatIdMap([]), '');
  assert.equal(formatIdMap([{ containerID: 0, hostID: 0, size: 4294967295 }]), '0 0 4294967295\n');
  assert.equal(
    formatIdMap([
      { containerID: 0, hostID: 1000, size: 1 },
      { containerID: 1, hostID: 100000, size: 65536 },
    ]),
    '0 1000 1\n1 100000 65536\n',
  );
});

test('hostId: identity without maps, mapped inside a range, -1 outside', () => {
  assert.equal(hostId(undefined, 0), 0);
  assert.equal(hostId([], 42), 42);
  const maps = [
    { containerID: 0, hostID: 1000, size: 1 },
    { containerID: 1, hostID: 100000, size: 65536 },
  ];
  assert.equal(hostId(maps, 0), 1000);
  assert.equal(hostId(maps, 1), 100000);
  assert.equal(hostId(maps, 65536), 165535);
  assert.equal(hostId(maps, 65537), -1, 'one past the last range');
  assert.equal(hostId([{ containerID: 10, hostID: 5000, size: 10 }], 0), -1);
  assert.equal(hostId([{ containerID: 10, hostID: 5000, size: 10 }], 19), 5009);
});
