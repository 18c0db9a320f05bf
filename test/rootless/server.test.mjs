// Rootless containers through a husk server run by the same unprivileged user (in its
// $XDG_RUNTIME_DIR): the server writes the id maps (newuidmap) of an init the user's front
// started, and the user's state and cgroup rules are as without a server.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import path from 'node:path';
import { startHuskServer } from '../lib/husk-server.mjs';
import { HUSK_ONLY, SKIP, lines, makeUser, rlEnv, show, waitFor } from './lib.mjs';

describe('rootless through a husk server', { skip: SKIP || HUSK_ONLY }, () => {
  let user;
  before(() => {
    user = makeUser();
  });
  after(() => user?.remove());

  // Started before rlEnv(t), so it is stopped before the cleanup that counts the user's processes.
  async function serverOf(t) {
    const s = await startHuskServer(path.join(user.xdg, 'husk-server'), {
      as: ['setpriv', '--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups'],
      env: { PATH: process.env.PATH, HOME: '/', XDG_RUNTIME_DIR: user.xdg },
    });
    t.after(s.stop);
    return s;
  }

  test("run and the lifecycle are served; the maps are the user's", async (t) => {
    const s = await serverOf(t);
    const e = rlEnv(t, user);
    const b = e.bundle(['sh', '-c', 'cat /proc/self/uid_map; id -u']);
    let r = e.run(['run', '--bundle', b, e.id('run')]);
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(lines(r.stdout), [`0 ${user.uid} 1`, '0']);
    const id = e.id('life');
    r = e.run(['create', '--bundle', e.bundle(['sleep', '1000']), id]);
    assert.equal(r.code, 0, show(r));
    assert.equal(e.run(['start', id]).code, 0);
    r = e.run(['exec', id, 'sh', '-c', 'exit 3']);
    assert.equal(r.code, 3, show(r));
    assert.equal(e.run(['kill', id, 'KILL']).code, 0);
    await waitFor(() => e.state(id)?.status === 'stopped', 'stopped');
    r = e.run(['delete', id]);
    assert.equal(r.code, 0, show(r));
    const tally = await s.stop();
    assert.ok(tally.served >= 8, tally.log);
    assert.equal(tally.handedBack + tally.refused, 0, tally.log);
  });
});
