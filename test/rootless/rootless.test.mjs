// Rootless containers: the runtime run by an unprivileged user (made by the test), with a user
// namespace mapping the user's own ids, or several ranges through newuidmap/newgidmap.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  IS_HUSK,
  SKIP,
  defaultRoot,
  lines,
  makeUser,
  rlEnv,
  show,
  sleep,
  userProcesses,
  waitFor,
} from './lib.mjs';

describe('rootless', { skip: SKIP }, () => {
  let user;
  before(() => {
    user = makeUser();
  });
  after(() => user?.remove());

  test('run: the container is root in a user namespace that maps the caller', (t) => {
    const e = rlEnv(t, user);
    const b = e.bundle(['sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g']);
    const r = e.run(['run', '--bundle', b, e.id()]);
    assert.equal(r.code, 0, show(r));
    const got = lines(r.stdout);
    assert.deepEqual(got, [`0 ${user.uid} 1`, `0 ${user.gid} 1`, '0', '0'], show(r));
  });

  test('create, start, exec, kill, delete; state under $XDG_RUNTIME_DIR', async (t) => {
    const e = rlEnv(t, user);
    const b = e.bundle(['sleep', '1000']);
    const id = e.id();
    let r = e.run(['create', '--bundle', b, id]);
    assert.equal(r.code, 0, show(r));
    assert.ok(fs.existsSync(path.join(defaultRoot(user), id)), `no state dir in ${defaultRoot(user)}`);
    let s = e.state(id);
    assert.equal(s?.status, 'created');
    const pid = s.pid;
    assert.equal(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1], String(user.uid));
    r = e.run(['start', id]);
    assert.equal(r.code, 0, show(r));
    await waitFor(() => e.state(id)?.status === 'running', 'running');
    r = e.run(['exec', id, 'cat', '/proc/self/uid_map']);
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(lines(r.stdout), [`0 ${user.uid} 1`]);
    r = e.run(['kill', id, 'KILL']);
    assert.equal(r.code, 0, show(r));
    await waitFor(() => e.state(id)?.status === 'stopped', 'stopped');
    r = e.run(['delete', id]);
    assert.equal(r.code, 0, show(r));
    assert.ok(!fs.existsSync(path.join(defaultRoot(user), id)), 'state dir left after delete');
    assert.equal(e.state(id), null);
    await waitFor(() => !fs.existsSync(`/proc/${pid}`) || userProcesses(user).length === 0, 'init gone');
  });

  test('files made in a writable bind mount belong to the caller on the host', (t) => {
    const e = rlEnv(t, user);
    const data = e.dir(user);
    const b = e.bundle(['sh', '-c', 'echo hi > /home/f && mkdir /home/d && ln -s f /home/l'], (c) => {
      c.mounts.push({ destination: '/home', type: 'bind', source: data, options: ['rbind', 'rw'] });
    });
    const r = e.run(['run', '--bundle', b, e.id()]);
    assert.equal(r.code, 0, show(r));
    for (const f of ['f', 'd', 'l']) {
      const st = fs.lstatSync(path.join(data, f));
      assert.deepEqual([st.uid, st.gid], [user.uid, user.gid], `owner of ${f}`);
    }
  });

  // Maps several ranges (newuidmap/newgidmap), makes files as container root and as container
  // id 1000 (root keeps CAP_CHOWN for that) in a bind mount, and returns the host owners.
  function multiRange(t, maps, gmaps, dataOwner) {
    const e = rlEnv(t, user);
    const data = e.dir(dataOwner);
    const b = e.bundle(
      [
        'sh',
        '-c',
        'cat /proc/self/uid_map /proc/self/gid_map; touch /home/r /home/u /home/v; ' +
          'chown 1000:1000 /home/u && chown 999:1999 /home/v',
      ],
      (c) => {
        c.linux.uidMappings = maps;
        c.linux.gidMappings = gmaps;
        c.mounts.push({ destination: '/home', type: 'bind', source: data, options: ['rbind', 'rw'] });
        for (const set of ['bounding', 'effective', 'permitted'])
          c.process.capabilities[set].push('CAP_CHOWN');
      },
    );
    const r = e.run(['run', '--bundle', b, e.id()]);
    assert.equal(r.code, 0, show(r));
    const got = lines(r.stdout);
    const want = (ms) => ms.map((m) => `${m.containerID} ${m.hostID} ${m.size}`);
    assert.deepEqual(got, [...want(maps), ...want(gmaps)], show(r));
    const owner = (f) => {
      const st = fs.statSync(path.join(data, f));
      return [st.uid, st.gid];
    };
    return { r: owner('r'), u: owner('u'), v: owner('v') };
  }

  test('several ranges through newuidmap/newgidmap: ids 0 and 1000 on subordinate ids', (t) => {
    const S = user.sub.start;
    const maps = [
      { containerID: 0, hostID: S, size: 1000 },
      { containerID: 1000, hostID: S + 1000, size: 1000 },
    ];
    // The container's root is host uid S: it must be able to write the directory.
    const got = multiRange(t, maps, maps, { uid: S, gid: S });
    assert.deepEqual(got, { r: [S, S], u: [S + 1000, S + 1000], v: [S + 999, S + 1999] });
  });

  test('several ranges, root mapped to the caller (as podman maps them)', (t) => {
    const S = user.sub.start;
    const maps = [
      { containerID: 0, hostID: user.uid, size: 1 },
      { containerID: 1, hostID: S, size: 65535 },
    ];
    const gmaps = maps.map((m, i) => (i === 0 ? { ...m, hostID: user.gid } : m));
    const got = multiRange(t, maps, gmaps, user);
    assert.deepEqual(got, { r: [user.uid, user.gid], u: [S + 999, S + 999], v: [S + 998, S + 1998] });
  });

  test('mapping ids the user was not given fails and leaves nothing', (t) => {
    const e = rlEnv(t, user);
    const b = e.bundle(['true'], (c) => {
      c.linux.uidMappings = [{ containerID: 0, hostID: 0, size: 1 }];
    });
    const id = e.id();
    const r = e.run(['run', '--bundle', b, id]);
    assert.notEqual(r.code, 0, show(r));
    if (IS_HUSK)
      assert.match(r.stderr, /^husk: \/linux\/uidMappings: write uid_map: newuidmap .*not allowed/m);
    assert.ok(!fs.existsSync(path.join(defaultRoot(user), id)), 'state dir left after a failed run');
  });

  test('limits without a delegated cgroup fail, naming the resource', (t) => {
    const e = rlEnv(t, user);
    const b = e.bundle(['true'], (c) => {
      c.linux.resources = { memory: { limit: 64 << 20 } };
    });
    const id = e.id();
    const r = e.run(['run', '--bundle', b, id]);
    assert.notEqual(r.code, 0, show(r));
    if (IS_HUSK)
      assert.match(
        r.stderr,
        /^husk: \/linux\/resources\/memory\/limit: .*not delegated to this user/m,
        show(r),
      );
    else assert.match(r.stderr, /cgroup/, show(r));
    assert.ok(!fs.existsSync(path.join(defaultRoot(user), id)), 'state dir left after a failed run');
  });

  test('no user namespace: refused, saying a user namespace is needed', (t) => {
    const e = rlEnv(t, user);
    const b = e.bundle(['true'], (c) => {
      c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'user');
      delete c.linux.uidMappings;
      delete c.linux.gidMappings;
    });
    const id = e.id();
    const r = e.run(['run', '--bundle', b, id]);
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stderr, /user namespace/, show(r));
    if (IS_HUSK) assert.match(r.stderr, /^husk: \/linux\/namespaces: /m, show(r));
    assert.ok(!fs.existsSync(path.join(defaultRoot(user), id)), 'state dir left after a failed run');
  });

  test('run -d and delete --force leave no process, state or mount', async (t) => {
    const e = rlEnv(t, user);
    const data = e.dir(user);
    const b = e.bundle(['sleep', '1000'], (c) => {
      c.mounts.push({ destination: '/home', type: 'bind', source: data, options: ['rbind', 'rw'] });
    });
    const id = e.id();
    const r = e.run(['run', '--detach', '--bundle', b, id]);
    assert.equal(r.code, 0, show(r));
    assert.equal(e.state(id)?.status, 'running');
    assert.ok(userProcesses(user).length > 0, 'the container runs as the user');
    const d = e.run(['delete', '--force', id]);
    assert.equal(d.code, 0, show(d));
    await waitFor(() => userProcesses(user).length === 0, 'the container processes to go');
    await sleep(50);
    assert.ok(!fs.existsSync(path.join(defaultRoot(user), id)));
  });
});
