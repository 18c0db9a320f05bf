// src/runtime/cgroups/frozen.ts: whether the container's cgroup is frozen before its init joins,
// on each layout, from fake cgroup files (no host state).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, hostV1, hostV2, hostHybrid } from './helpers.mjs';

const { planCgroups } = load('plan/cgroups.js');
const { frozenCgroup } = load('runtime/cgroups/frozen.js');

const reader = (files) => (f) => (f in files ? files[f] : null);
const withPath = (p) => ({ linux: { cgroupsPath: p } });

test('v2: cgroup.freeze 1 on the directory or an ancestor; cgroup.events frozen 1', () => {
  const plan = planCgroups(withPath('/a/b'), hostV2(), 'c1');
  assert.equal(frozenCgroup(plan, reader({})), null, 'nothing exists yet: not frozen');
  assert.equal(
    frozenCgroup(
      plan,
      reader({
        '/sys/fs/cgroup/a/b/cgroup.freeze': '0',
        '/sys/fs/cgroup/a/b/cgroup.events': 'populated 0\nfrozen 0',
      }),
    ),
    null,
  );
  assert.equal(
    frozenCgroup(plan, reader({ '/sys/fs/cgroup/a/b/cgroup.freeze': '1' })),
    '/sys/fs/cgroup/a/b/cgroup.freeze',
  );
  // The directory does not exist yet; its parent is frozen: a child made there is frozen too.
  assert.equal(
    frozenCgroup(plan, reader({ '/sys/fs/cgroup/a/cgroup.freeze': '1' })),
    '/sys/fs/cgroup/a/cgroup.freeze',
  );
  assert.equal(
    frozenCgroup(
      plan,
      reader({
        '/sys/fs/cgroup/a/b/cgroup.freeze': '0',
        '/sys/fs/cgroup/a/b/cgroup.events': 'populated 0\nfrozen 1',
      }),
    ),
    '/sys/fs/cgroup/a/b/cgroup.events',
  );
  // The root has no cgroup.freeze; never read above the mountpoint.
  const seen = [];
  frozenCgroup(plan, (f) => (seen.push(f), null));
  assert.ok(
    seen.every((f) => f.startsWith('/sys/fs/cgroup/')),
    seen.join(' '),
  );
});

test('v1: freezer.state of the nearest existing directory', () => {
  const plan = planCgroups(withPath('/a/b'), hostV1(), 'c1');
  const F = '/sys/fs/cgroup/freezer';
  assert.equal(frozenCgroup(plan, reader({ [`${F}/freezer.state`]: 'THAWED' })), null);
  assert.equal(
    frozenCgroup(plan, reader({ [`${F}/a/b/freezer.state`]: 'FROZEN' })),
    `${F}/a/b/freezer.state`,
  );
  assert.equal(
    frozenCgroup(plan, reader({ [`${F}/a/b/freezer.state`]: 'FREEZING' })),
    `${F}/a/b/freezer.state`,
  );
  // A new child of a frozen parent is born frozen.
  assert.equal(frozenCgroup(plan, reader({ [`${F}/a/freezer.state`]: 'FROZEN' })), `${F}/a/freezer.state`);
  // The nearest existing one decides (it reports what it inherits).
  assert.equal(
    frozenCgroup(plan, reader({ [`${F}/a/b/freezer.state`]: 'THAWED', [`${F}/a/freezer.state`]: 'FROZEN' })),
    null,
  );
});

test('hybrid: the cgroup2 hierarchy the init joins too is checked', () => {
  const plan = planCgroups(withPath('/a/b'), hostHybrid(), 'c1');
  assert.equal(
    frozenCgroup(
      plan,
      reader({
        '/sys/fs/cgroup/freezer/a/b/freezer.state': 'THAWED',
        '/sys/fs/cgroup/unified/a/b/cgroup.freeze': '1',
      }),
    ),
    '/sys/fs/cgroup/unified/a/b/cgroup.freeze',
  );
});
