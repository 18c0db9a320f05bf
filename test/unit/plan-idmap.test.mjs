// Idmapped mounts in the plan: one IDMAP_TREE op per idmapped mount before any namespace is
// entered (the first process still has the host's privileges then), the MOUNT op moving tree N,
// and bad mappings refused with the pointer of the entry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, hostV2, throwsHusk } from './helpers.mjs';

const { buildPlan } = load('plan/index.js');
const { idmapOf } = load('plan/idmap-mounts.js');

const map = (containerID, hostID, size) => ({ containerID, hostID, size });

function spec(mounts, linux = {}) {
  return {
    root: { path: '/r' },
    process: { args: ['true'], cwd: '/', user: { uid: 0, gid: 0 } },
    mounts,
    linux: { namespaces: [{ type: 'mount' }, { type: 'pid' }], ...linux },
  };
}

const idmapped = (dest, extra = {}) => ({
  destination: dest,
  type: 'bind',
  source: `/host${dest}`,
  options: ['rbind'],
  uidMappings: [map(1234, 5678, 1)],
  gidMappings: [map(1234, 5678, 1)],
  ...extra,
});

test('an idmapped tree per mount, made before the namespaces, moved by its MOUNT op', () => {
  const s = spec(
    [
      { destination: '/plain', type: 'bind', source: '/p', options: ['bind'] },
      idmapped('/a'),
      idmapped('/b'),
    ],
    {
      namespaces: [{ type: 'mount' }, { type: 'user' }],
      uidMappings: [map(0, 100000, 65536)],
      gidMappings: [map(0, 100000, 65536)],
    },
  );
  const plan = buildPlan(s, hostV2({ cgroupMode: 'none', unified: null }), { id: 'c', bundle: '/b' });
  const names = plan.ops.map((o) => o.op);
  const trees = plan.ops.filter((o) => o.op === 'IDMAP_TREE');
  assert.deepEqual(
    trees.map((o) => [
      o.from,
      o.fields[0].u32,
      o.fields[1].str,
      o.fields[2].u32,
      o.fields[3].str,
      o.fields[4].str,
    ]),
    [
      ['/mounts/1', 0, '/host/a', 3, '1234 5678 1\n', '1234 5678 1\n'],
      ['/mounts/2', 1, '/host/b', 3, '1234 5678 1\n', '1234 5678 1\n'],
    ],
  );
  assert.ok(names.lastIndexOf('IDMAP_TREE') < names.indexOf('USERNS'), 'trees before the user namespace');
  const mounts = plan.ops.filter((o) => o.op === 'MOUNT');
  assert.deepEqual(
    mounts.map((o) => [o.fields[0].u32, o.fields[10].u32]),
    [
      [1, 1], // a plain bind in a user namespace: from the fd the source helper opened (slot 1)
      [3, 0],
      [3, 1],
    ],
  );
});

test('idmap maps this mount only, ridmap the mounts below too; rbind clones them', () => {
  const s = spec([
    idmapped('/a', { options: ['bind', 'idmap'] }),
    idmapped('/b', { options: ['rbind', 'idmap'] }),
    idmapped('/c', { options: ['rbind', 'ridmap'] }),
  ]);
  assert.deepEqual(
    [0, 1, 2].map((i) => idmapOf(s, i).recursive),
    [0, 1, 3],
  );
});

test('idmap without mappings on the mount maps like the container', () => {
  const s = spec([{ destination: '/a', type: 'bind', source: '/h', options: ['bind', 'idmap'] }], {
    uidMappings: [map(0, 1000, 10)],
    gidMappings: [map(0, 2000, 10)],
  });
  assert.deepEqual(idmapOf(s, 0), { recursive: 0, uidMap: '0 1000 10\n', gidMap: '0 2000 10\n' });
  throwsHusk(
    () => idmapOf(spec([{ destination: '/a', type: 'bind', source: '/h', options: ['bind', 'idmap'] }]), 0),
    /^\/mounts\/0\/options: "idmap" without uidMappings and gidMappings on the mount needs the container's/,
  );
});

test('bad mappings are refused, naming the entry', () => {
  const bad = (extra) => () => idmapOf(spec([idmapped('/a', extra)]), 0);
  throwsHusk(bad({ gidMappings: undefined }), /^\/mounts\/0\/gidMappings: an idmapped mount needs both/);
  throwsHusk(bad({ uidMappings: [] }), /^\/mounts\/0\/uidMappings: must not be empty/);
  throwsHusk(bad({ uidMappings: [map(0, 1, 0)] }), /^\/mounts\/0\/uidMappings\/0\/size: must be at least 1/);
  throwsHusk(
    bad({ gidMappings: [map(0, 100, 10), map(5, 500, 10)] }),
    /^\/mounts\/0\/gidMappings\/1: its containerID range overlaps \/mounts\/0\/gidMappings\/0/,
  );
  throwsHusk(
    bad({ uidMappings: [map(0, 100, 10), map(50, 105, 1)] }),
    /^\/mounts\/0\/uidMappings\/1: its hostID range overlaps/,
  );
  throwsHusk(
    bad({ uidMappings: [map(4294967290, 0, 10)] }),
    /^\/mounts\/0\/uidMappings\/0: the range runs past/,
  );
  throwsHusk(
    bad({ uidMappings: [map(-1, 0, 1)] }),
    /^\/mounts\/0\/uidMappings\/0\/containerID: must be an integer/,
  );
  throwsHusk(
    () => idmapOf(spec([{ ...idmapped('/a'), type: 'tmpfs', options: [] }]), 0),
    /^\/mounts\/0\/type: idmapped mounts are supported for bind mounts only \(got tmpfs\)/,
  );
  // A cgroup mount with a bind option is planned apart from the trees: no tree slot for it.
  throwsHusk(
    () => idmapOf(spec([{ ...idmapped('/a'), type: 'cgroup', options: ['rbind', 'idmap'] }]), 0),
    /^\/mounts\/0\/type: idmapped mounts are supported for bind mounts only \(got cgroup\)/,
  );
});

test('more idmapped mounts than husk-init holds are refused', () => {
  const s = spec(Array.from({ length: 33 }, (_, i) => idmapped(`/m${i}`)));
  throwsHusk(
    () => buildPlan(s, hostV2({ cgroupMode: 'none', unified: null }), { id: 'c', bundle: '/b' }),
    /^\/mounts\/32: more than 32 idmapped mounts/,
  );
});
