// Mount destinations and what goes on them, as engines send them, against husk and runc alike
// (RUNTIME=/usr/sbin/runc): a dangling in-rootfs symlink as a bind destination (an image's
// /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf, where docker and podman bind
// their resolv.conf), /dev given ro, tmpfs over a directory, and the host's /proc bound in when
// there is no pid namespace.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { SKIP, env, makeBundle, show } from '../lib/harness.mjs';

const RUNTIME = process.env.RUNTIME ? path.resolve(process.env.RUNTIME) : undefined;
const IS_HUSK = !RUNTIME || /husk/.test(path.basename(RUNTIME));

function run(t, script, mutate, opts = {}) {
  const e = env(t, { runtime: RUNTIME });
  const b = makeBundle(t, mutate, { copyRootfs: true, ...opts, args: ['sh', '-c', script] });
  const id = e.id(opts.name ?? 'sh');
  const r = e.husk(['run', '--bundle', b.dir, id]);
  return { ...r, id, bundle: b, e };
}

describe(`mount destinations (${RUNTIME ?? 'husk'})`, { skip: SKIP }, () => {
  test('a bind onto a dangling in-rootfs symlink makes its target inside the rootfs and mounts there', (t) => {
    const e = env(t, { runtime: RUNTIME });
    const src = path.join(e.tmpdir('husk-test-resolv-'), 'resolv.conf');
    fs.writeFileSync(src, `nameserver 192.0.2.53 # ${e.marker}\n`);
    const r = run(t, 'cat /etc/resolv.conf; readlink /etc/resolv.conf', (c, b) => {
      fs.mkdirSync(path.join(b.rootfs, 'run'), { recursive: true });
      fs.rmSync(path.join(b.rootfs, 'etc', 'resolv.conf'), { force: true });
      fs.symlinkSync('../run/systemd/resolve/stub-resolv.conf', path.join(b.rootfs, 'etc', 'resolv.conf'));
      c.mounts.push({ destination: '/etc/resolv.conf', type: 'bind', source: src, options: ['rbind', 'ro'] });
    });
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, `nameserver 192.0.2.53 # ${e.marker}\n../run/systemd/resolve/stub-resolv.conf\n`);
    // Made where the link leads, in the rootfs: an empty file to mount on.
    const made = path.join(r.bundle.rootfs, 'run', 'systemd', 'resolve', 'stub-resolv.conf');
    assert.ok(fs.statSync(made).isFile(), `${made} was not made`);
    assert.equal(fs.readFileSync(made, 'utf8'), '');
  });

  test('a directory bind onto a dangling absolute symlink makes the directory inside the rootfs', (t) => {
    const e = env(t, { runtime: RUNTIME });
    const src = e.tmpdir('husk-test-dangle-');
    fs.writeFileSync(path.join(src, 'here'), 'yes\n');
    // A name unique to the test, so its absence on the host says the runtime made nothing there.
    const target = `/srv/${e.marker}/v1`;
    const r = run(t, 'cat /data/here', (c, b) => {
      fs.symlinkSync(target, path.join(b.rootfs, 'data'));
      c.mounts.push({ destination: '/data', type: 'bind', source: src, options: ['rbind', 'ro'] });
    });
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'yes\n');
    const made = fs.statSync(path.join(r.bundle.rootfs, target));
    assert.ok(made.isDirectory());
    // Made 0755, as runc makes a mountpoint (it was made with a file's 0644: no search bit).
    assert.equal(made.mode & 0o777, 0o755);
    assert.ok(!fs.existsSync(path.dirname(target)), `${path.dirname(target)} was made on the host`);
  });

  test('/dev given ro: /dev/pts, /dev/shm and the device nodes are there, and /dev is read-only last', (t) => {
    const r = run(
      t,
      'ls /dev/pts/ptmx >/dev/null && echo pts=ok; echo x > /dev/null && echo null=ok; ' +
        'grep -q " /dev/shm " /proc/self/mountinfo && echo shm=ok; ' +
        'touch /dev/new 2>/dev/null && echo dev=rw || echo dev=ro',
      (c) => {
        const dev = c.mounts.find((m) => m.destination === '/dev');
        dev.options = [...dev.options, 'ro'];
      },
    );
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'pts=ok\nnull=ok\nshm=ok\ndev=ro\n', show(r));
  });

  test('a tmpfs without mode= takes the mode of the directory it covers (1777 /tmp stays 1777), ro after', (t) => {
    const r = run(
      t,
      'stat -c "%n=%a" /tmp /srv; touch /tmp/x && echo tmp=rw; touch /srv/x 2>/dev/null || echo srv=ro',
      (c, b) => {
        fs.chmodSync(path.join(b.rootfs, 'tmp'), 0o1777);
        fs.mkdirSync(path.join(b.rootfs, 'srv'));
        fs.chmodSync(path.join(b.rootfs, 'srv'), 0o711);
        c.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] });
        c.mounts.push({ destination: '/srv', type: 'tmpfs', source: 'tmpfs', options: ['ro'] });
      },
    );
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, '/tmp=1777\n/srv=711\ntmp=rw\nsrv=ro\n', show(r));
  });

  // runc 1.1.5 chmods a tmpfs to the covered directory's mode even when mode= is given; husk
  // keeps mode= (README: where husk differs from runc).
  test('a tmpfs with mode= keeps it (runc 1.1.5: the covered directory’s mode)', (t) => {
    const r = run(t, 'stat -c "%a" /opt', (c, b) => {
      fs.mkdirSync(path.join(b.rootfs, 'opt'));
      fs.chmodSync(path.join(b.rootfs, 'opt'), 0o700);
      c.mounts.push({ destination: '/opt', type: 'tmpfs', source: 'tmpfs', options: ['mode=750'] });
    });
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, IS_HUSK ? '750\n' : '700\n', show(r));
  });

  test('tmpcopyup: the new tmpfs holds a copy of the directory it covers (files, dirs, links, owners), writable, and the image is untouched', (t) => {
    const r = run(
      t,
      'cat /data/a /data/sub/b; readlink /data/link; stat -c "%n=%a:%u:%g" /data/sub /data/a; ' +
        'echo changed > /data/a && cat /data/a; grep " /data " /proc/self/mountinfo | grep -q tmpfs && echo tmpfs',
      (c, b) => {
        const d = path.join(b.rootfs, 'data');
        fs.mkdirSync(path.join(d, 'sub'), { recursive: true });
        fs.writeFileSync(path.join(d, 'a'), 'file a\n');
        fs.writeFileSync(path.join(d, 'sub', 'b'), 'file b\n');
        fs.symlinkSync('sub/b', path.join(d, 'link'));
        fs.chmodSync(path.join(d, 'sub'), 0o751);
        fs.chownSync(path.join(d, 'sub'), 1000, 1001);
        fs.chmodSync(path.join(d, 'a'), 0o604);
        c.mounts.push({
          destination: '/data',
          type: 'tmpfs',
          source: 'tmpfs',
          options: ['tmpcopyup', 'nosuid'],
        });
      },
    );
    assert.equal(r.code, 0, show(r));
    assert.equal(
      r.stdout,
      'file a\nfile b\nsub/b\n/data/sub=751:1000:1001\n/data/a=604:0:0\nchanged\ntmpfs\n',
      show(r),
    );
    assert.equal(fs.readFileSync(path.join(r.bundle.rootfs, 'data', 'a'), 'utf8'), 'file a\n');
  });
});

describe(`the host's /proc bound at /proc (${RUNTIME ?? 'husk'})`, { skip: SKIP }, () => {
  const hostProc = (pidNs) => (c) => {
    if (!pidNs) c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'pid');
    const i = c.mounts.findIndex((m) => m.destination === '/proc');
    c.mounts[i] = {
      destination: '/proc',
      type: 'bind',
      source: '/proc',
      options: ['rbind', 'nosuid', 'noexec'],
    };
  };

  test('without a pid namespace: allowed, and the container sees the host’s processes', (t) => {
    const r = run(
      t,
      `test -d /proc/${process.pid} && echo host-proc; cat /proc/kcore 2>/dev/null | wc -c`,
      hostProc(false),
    );
    assert.equal(r.code, 0, show(r));
    // The host's /proc is there (this test's own pid), and the masks still cover it.
    assert.equal(r.stdout.replace(/ +/g, ''), 'host-proc\n0\n', show(r));
  });

  // runc 1.1.5 binds any procfs at /proc, pid namespace or not; husk only when the container
  // shares the host's pid namespace, where the host's /proc is the one that fits (README).
  test('with a pid namespace: refused (runc 1.1.5 allows it)', (t) => {
    const r = run(t, 'true', hostProc(true), { name: 'pidns' });
    assert.ok(!r.signal && !r.timedOut, show(r));
    if (!IS_HUSK) return assert.equal(r.code, 0, show(r));
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stderr, /\/mounts\/0.*\/proc/, show(r));
  });

  test('without a pid namespace, a source that is not a procfs: refused', (t) => {
    const e = env(t, { runtime: RUNTIME });
    const fake = e.tmpdir('husk-test-fakeproc-');
    const r = run(
      t,
      'true',
      (c) => {
        hostProc(false)(c);
        c.mounts.find((m) => m.destination === '/proc').source = fake;
      },
      { name: 'fake' },
    );
    assert.notEqual(r.code, 0, show(r));
    assert.ok(!r.signal && !r.timedOut, show(r));
    assert.match(r.stderr, /not of type proc/, show(r));
  });
});
