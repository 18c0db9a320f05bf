// husk run inside a user namespace whose setgroups is "deny" (`unshare --user --map-root-user`,
// as a rootless engine without subordinate ids does): every namespace made below it inherits
// the denial, so setgroups fails. runc skips setgroups there when the config asks for no
// additional groups; so does husk, with its own `spec --rootless` config, for run and exec. A
// config that does ask for additional groups is refused, naming the field and why.
// (runc 1.1.5 cannot start a container in such a namespace at all on this kind of host: "failed
// to setns to host mntns: Operation not permitted"; these tests are husk's.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HUSK_ONLY, REPO, ROOTFS, SKIP, asUser, makeUser, rlEnv, show } from './lib.mjs';

const HUSK = path.join(REPO, 'bin', 'husk');

// Runs `script` (sh, with $HUSK) as the user inside a fresh user namespace mapping only the
// user to root, setgroups "deny" (what unshare --map-root-user writes).
function inDenyNs(user, script) {
  return asUser(user, ['unshare', '--user', '--map-root-user', 'sh', '-c', script], { env: { HUSK } });
}

function bundle(e, user, args, mutate) {
  const dir = e.dir(user);
  // The config husk itself writes in that namespace.
  const r = inDenyNs(user, `cat /proc/self/setgroups && "$HUSK" spec --rootless --bundle ${dir}`);
  assert.equal(r.code, 0, show(r));
  assert.equal(r.stdout.trim(), 'deny', 'the control: setgroups is denied in the namespace');
  const c = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  c.process.terminal = false;
  c.process.args = args;
  c.root = { path: ROOTFS, readonly: true };
  mutate?.(c);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(c, null, 2));
  return dir;
}

describe('a user namespace with setgroups "deny"', { skip: SKIP || HUSK_ONLY }, () => {
  let user;
  before(() => {
    user = makeUser();
  });
  after(() => user?.remove());

  test('run and exec with `spec --rootless`: no setgroups, the process keeps its groups', (t) => {
    const e = rlEnv(t, user);
    const root = e.dir(user);
    const b = bundle(e, user, ['sleep', '600']);
    const id = e.id('deny');
    const r = inDenyNs(
      user,
      [
        `"$HUSK" --root ${root} run --bundle ${b} --detach ${id}`,
        `"$HUSK" --root ${root} exec ${id} id`,
        `rc=$?`,
        `"$HUSK" --root ${root} delete --force ${id}`,
        `exit $rc`,
      ].join('; '),
    );
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^uid=0\(root\) gid=0\(root\)/m, show(r));
    // And the foreground run of the init itself.
    const once = inDenyNs(
      user,
      `"$HUSK" --root ${root} run --bundle ${bundle(e, user, ['id', '-G'])} ${e.id('fg')}`,
    );
    assert.equal(once.code, 0, show(once));
    assert.equal(once.stdout.trim(), '0', show(once));
  });

  test('additionalGids there: refused naming the field and why, nothing left', (t) => {
    const e = rlEnv(t, user);
    const root = e.dir(user);
    const b = bundle(e, user, ['id'], (c) => {
      c.process.user.additionalGids = [0];
    });
    const id = e.id('gids');
    const r = inDenyNs(user, `"$HUSK" --root ${root} run --bundle ${b} ${id}`);
    assert.notEqual(r.code, 0, show(r));
    assert.match(
      r.stderr,
      /husk: \/process\/user\/additionalGids: cannot be set where setgroups is denied/,
      show(r),
    );
    assert.deepEqual(fs.readdirSync(root), [], 'a refused run left state behind');
  });
});
