// Recursive mount attributes (rro, rnoexec, ...: mount_setattr AT_RECURSIVE after the mount) and
// idmapped bind mounts (mounts[].uidMappings/gidMappings), as root.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { SKIP, assertFails, env, runSh, show } from '../lib/harness.mjs';

// A host directory with a tmpfs mounted below it (unmounted again by the test's cleanup).
function dirWithSubmount(t) {
  const e = env(t);
  const dir = e.tmpdir('husk-test-rattr-');
  fs.mkdirSync(path.join(dir, 'sub'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', path.join(dir, 'sub')], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `mount tmpfs: ${r.stderr}`);
  e.defer(() => spawnSync('umount', ['-l', path.join(dir, 'sub')]));
  return dir;
}

test(
  'rro: the bind and the mount below it are read-only; ro alone leaves the submount writable',
  { skip: SKIP },
  (t) => {
    const dir = dirWithSubmount(t);
    const script = (where) =>
      `touch /home/top 2>/dev/null && echo top-rw || echo top-ro; ` +
      `touch /home/sub/x 2>/tmp/err && echo ${where}-rw || { echo ${where}-ro; cat /tmp/err; }`;
    const mount = (options) => (c) => {
      c.root.readonly = false;
      c.mounts.push({ destination: '/home', type: 'bind', source: dir, options });
    };
    let r = runSh(t, script('sub'), mount(['rbind', 'rro']), { copyRootfs: true, name: 'rro' });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^top-ro\nsub-ro\n.*Read-only file system/m, show(r));
    r = runSh(t, script('sub'), mount(['rbind', 'ro']), { copyRootfs: true, name: 'ro' });
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'top-ro\nsub-rw\n', 'ro is the top mount only: ' + show(r));
    assert.ok(fs.existsSync(path.join(dir, 'sub', 'x')));
  },
);

test('rnoexec, rnosuid, rnodev, rnoatime reach the submount (mountinfo inside)', { skip: SKIP }, (t) => {
  const dir = dirWithSubmount(t);
  const r = runSh(t, "grep ' /home/sub ' /proc/self/mountinfo", (c) => {
    c.mounts.push({
      destination: '/home',
      type: 'bind',
      source: dir,
      options: ['rbind', 'rnoexec', 'rnosuid', 'rnodev', 'rnoatime', 'rrw'],
    });
  });
  assert.equal(r.code, 0, show(r));
  const opts = r.stdout.split(' ')[5].split(',');
  for (const o of ['rw', 'nosuid', 'nodev', 'noexec', 'noatime'])
    assert.ok(opts.includes(o), `${o} in ${opts}`);
});

test('idmapped bind: a file of host uid 1234 appears as uid 5678 inside', { skip: SKIP }, (t) => {
  const e = env(t);
  const dir = e.tmpdir('husk-test-idmap-');
  fs.chmodSync(dir, 0o755); // owned by host root, unmapped in the mount: reached as "others"
  fs.writeFileSync(path.join(dir, 'f'), 'x');
  fs.chownSync(path.join(dir, 'f'), 1234, 4321);
  const r = runSh(t, "stat -c '%u %g' /home/f; ls -ln /home", (c) => {
    c.mounts.push({
      destination: '/home',
      type: 'bind',
      source: dir,
      options: ['rbind', 'idmap'],
      uidMappings: [{ containerID: 1234, hostID: 5678, size: 1 }],
      gidMappings: [{ containerID: 4321, hostID: 8765, size: 1 }],
    });
  });
  assert.equal(r.code, 0, show(r));
  assert.equal(r.stdout.split('\n')[0], '5678 8765', show(r));
  const st = fs.statSync(path.join(dir, 'f'));
  assert.deepEqual([st.uid, st.gid], [1234, 4321], 'the host file is unchanged');
});

test('idmapped bind with overlapping ranges is refused before anything runs', { skip: SKIP }, (t) => {
  const e = env(t);
  const dir = e.tmpdir('husk-test-idmap-');
  const r = runSh(t, 'true', (c) => {
    c.mounts.push({
      destination: '/home',
      type: 'bind',
      source: dir,
      options: ['rbind'],
      uidMappings: [
        { containerID: 0, hostID: 1000, size: 10 },
        { containerID: 5, hostID: 2000, size: 10 },
      ],
      gidMappings: [{ containerID: 0, hostID: 1000, size: 10 }],
    });
  });
  assertFails(
    r,
    /\/mounts\/\d+\/uidMappings\/1: its containerID range overlaps \/mounts\/\d+\/uidMappings\/0/,
  );
});
