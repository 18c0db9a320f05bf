// `exec --apparmor PROFILE` and `exec --process-label LABEL` are applied to the exec'd process
// (runc applies them), never accepted and dropped. Where the host has the LSM: a profile that
// is not loaded fails naming the flag and saying so, and `unconfined` / the caller's own label
// is what the process runs with. Where it has not: husk refuses, naming the flag and the LSM
// (runc 1.1.5 runs the process unconfined there without a word).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { SKIP, assertFails, env, makeBundle, show } from '../lib/harness.mjs';

const HOST_FACTS = await import('../../out/host/lsm.js').then((m) =>
  m.default.detectLsm({
    exists: (p) => fs.existsSync(p),
    read: (p) => {
      try {
        return fs.readFileSync(p, 'utf8');
      } catch {
        return '';
      }
    },
    mountinfo: () => fs.readFileSync('/proc/self/mountinfo', 'utf8'),
  }),
);

function running(t) {
  const e = env(t);
  const b = makeBundle(t, { args: ['sleep', '600'] });
  const id = e.id('lsm');
  const r = e.husk(['run', '--detach', '--bundle', b.dir, id]);
  assert.equal(r.code, 0, show(r));
  return { e, id };
}

// Nothing of a refused exec may be left in the container: only its init (and no sh) runs there.
function onlyInit(e, id) {
  const r = e.husk(['ps', '--format', 'json', id]);
  assert.equal(r.code, 0, show(r));
  assert.deepEqual(JSON.parse(r.stdout), [e.state(id).pid], 'a refused exec left a process behind');
}

describe('exec --apparmor / --process-label', { skip: SKIP }, () => {
  test(`--apparmor (AppArmor ${HOST_FACTS.apparmor ? 'enabled' : 'not enabled'} on this host)`, (t) => {
    const { e, id } = running(t);
    const cmd = ['cat', '/proc/self/attr/current'];
    if (!HOST_FACTS.apparmor) {
      t.diagnostic('this host has no AppArmor: checking that husk refuses the flag, naming it');
      assertFails(
        e.husk(['exec', '--apparmor', 'husk-test-profile', id, ...cmd]),
        /--apparmor: "husk-test-profile" asked for, but AppArmor is not enabled on this host/,
      );
      onlyInit(e, id);
      return;
    }
    const missing = `husk-test-not-loaded-${e.marker}`;
    assertFails(
      e.husk(['exec', '--apparmor', missing, id, ...cmd]),
      new RegExp(`--apparmor: AppArmor profile "${missing}" is not loaded`),
    );
    onlyInit(e, id);
    const r = e.husk(['exec', '--apparmor', 'unconfined', id, ...cmd]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^unconfined/, show(r));
  });

  test(`--process-label (SELinux ${HOST_FACTS.selinux ? 'enabled' : 'not enabled'} on this host)`, (t) => {
    const { e, id } = running(t);
    const cmd = ['cat', '/proc/self/attr/current'];
    if (!HOST_FACTS.selinux) {
      t.diagnostic('this host has no SELinux: checking that husk refuses the flag, naming it');
      assertFails(
        e.husk(['exec', '--process-label', 'system_u:system_r:container_t:s0', id, ...cmd]),
        /--process-label: "system_u:system_r:container_t:s0" asked for, but SELinux is not enabled on this host/,
      );
      onlyInit(e, id);
      return;
    }
    // The caller's own label is one the policy surely knows.
    const own = fs.readFileSync('/proc/self/attr/current', 'utf8').replace(/\0/g, '').trim();
    const r = e.husk(['exec', '--process-label', own, id, ...cmd]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout.replace(/\0/g, '').trim(), own);
  });
});
