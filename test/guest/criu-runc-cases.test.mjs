// Checkpoint and restore in the shapes of runc's own integration cases (issue 21), for husk and,
// with RUNTIME=/usr/sbin/runc, for runc side by side: two checkpoint/restore rounds with
// --work-path and then an exec; a lazy migration (--lazy-pages, a page server, criu's lazy-pages
// daemon, the status fd); a network namespace joined by path, restored into the same one; a
// container's own criu config file (org.criu.config); a restore into another cgroup with
// --manage-cgroups-mode ignore; a bind mount whose destination is a symlink; a bad --parent-path. Runs where `criu check` passes (the Debian 12
// guest of scripts/guest/); skipped with the reason elsewhere.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { env, show, waitFor } from '../lib/harness.mjs';
import {
  bindBundle,
  NAME,
  RUNTIME,
  SKIP,
  count,
  countPast,
  counterBundle,
  roundTrip,
  rtPiped,
  runCounter,
} from './criu-lib.mjs';

// `criu check --feature NAME`: a reason to skip, or false.
function criuLacks(feature, what) {
  if (SKIP) return SKIP;
  const r = spawnSync('criu', ['check', '--feature', feature], { encoding: 'utf8' });
  return r.status === 0 ? false : `this criu cannot ${what} (criu check --feature ${feature})`;
}

const gone = (e, id) => e.husk(['state', id], { runtime: RUNTIME }).code !== 0;

describe(`checkpoint and restore, runc's cases (${NAME})`, { skip: SKIP }, () => {
  test('two rounds with --work-path (the second with --debug), then exec into the restored container', async (t) => {
    const e = env(t, { runtime: RUNTIME });
    const b = counterBundle(t);
    const id = e.id('rounds');
    const file = path.join(b.rootfs, 'count');
    await runCounter(t, e, b, id, file);
    for (const global of [[], ['--debug']]) {
      const work = e.tmpdir('husk-work-');
      const paths = ['--work-path', work, '--image-path', e.tmpdir('husk-ckpt-')];
      await roundTrip(e, b, id, file, { paths, global, what: global.join(' ') });
      for (const log of ['dump.log', 'restore.log'])
        assert.ok(fs.existsSync(path.join(work, log)), `criu's ${log} in --work-path`);
      assert.equal(e.state(id).status, 'running');
    }
    const x = e.husk(['exec', '--cwd', '/bin', id, 'sh', '-c', 'echo ok; pwd'], { runtime: RUNTIME });
    assert.equal(x.code, 0, `exec into the restored container: ${show(x)}`);
    assert.equal(x.stdout, 'ok\n/bin\n', show(x));
    assert.equal(e.husk(['delete', '-f', id], { runtime: RUNTIME }).code, 0);
  });

  // The dump side serves the pages (--page-server) and tells on --status-fd when it is ready;
  // criu's lazy-pages daemon fetches them for a restore under another id, and the dump ends once
  // the last page is across.
  test(
    'lazy migration: --lazy-pages with a page server and --status-fd, restored under a new id',
    { skip: criuLacks('uffd-noncoop', 'migrate lazily') },
    async (t) => {
      const e = env(t, { runtime: RUNTIME });
      const b = counterBundle(t);
      const id = e.id('lazy');
      const id2 = e.id('lazy2');
      const file = path.join(b.rootfs, 'count');
      await runCounter(t, e, b, id, file);
      const images = e.tmpdir('husk-ckpt-');
      const work = e.tmpdir('husk-work-');
      const ready = path.join(e.tmpdir('husk-ready-'), 'status');
      const port = String(20000 + (process.pid % 20000));
      // prettier-ignore
      const dump = e.huskAsync([
        '-c', 'exec 3>"$0"; exec "$@"', ready, RUNTIME, '--root', e.root, 'checkpoint', '--lazy-pages',
        '--page-server', `127.0.0.1:${port}`, '--status-fd', '3', '--work-path', work, '--image-path', images, id,
      ], { runtime: '/bin/sh', root: undefined });
      let ended = null;
      dump.done.then((r) => (ended = r));
      e.defer(() => dump.child.kill('SIGKILL'));
      await waitFor(
        () => ended || (fs.existsSync(ready) && fs.statSync(ready).size > 0),
        'the status fd says the page server is ready',
        120_000,
        100,
      );
      assert.equal(
        ended,
        null,
        `checkpoint --lazy-pages ended before its page server was ready: ${ended && show(ended)}`,
      );
      assert.deepEqual([...fs.readFileSync(ready)], [0], 'one NUL byte on --status-fd');
      assert.ok(
        fs.existsSync(path.join(images, 'inventory.img')),
        'the images are written before the pages move',
      );
      const at = count(file);
      const daemon = spawn(
        'criu',
        [
          'lazy-pages',
          '--page-server',
          '--address',
          '127.0.0.1',
          '--port',
          port,
          '-D',
          images,
          '-o',
          'lazy-pages.log',
        ],
        { stdio: 'ignore' },
      );
      const daemonEnded = new Promise((resolve) =>
        daemon.once('exit', (code, signal) => resolve({ code, signal })),
      );
      e.defer(() => daemon.kill('SIGKILL'));
      // criu's restore finds the daemon's socket in its work dir: the images directory here.
      const paths = ['--work-path', images, '--image-path', images];
      const r = await rtPiped(e, ['restore', '-d', '--lazy-pages', ...paths, '--bundle', b.dir, id2]);
      assert.equal(r.code, 0, `restore --lazy-pages: ${show(r)}`);
      assert.equal(e.state(id2).status, 'running');
      await countPast(file, at, 'after a lazy restore');
      const dr = await dump.done;
      assert.equal(dr.code, 0, `the checkpoint ends once every page has moved: ${show(dr)}`);
      assert.deepEqual(await daemonEnded, { code: 0, signal: null }, "criu's lazy-pages daemon ends with it");
      assert.ok(gone(e, id), 'the migrated container is gone from its old id');
      const x = e.husk(['exec', '--cwd', '/bin', id2, 'echo', 'ok'], { runtime: RUNTIME });
      assert.equal(x.code, 0, `exec: ${show(x)}`);
      assert.equal(x.stdout, 'ok\n');
      assert.equal(e.husk(['delete', '-f', id2], { runtime: RUNTIME }).code, 0);
    },
  );

  test(
    'a network namespace joined by path: declared external, and restored into the same one',
    {
      skip:
        criuLacks('external_net_ns', 'restore into an external network namespace') ||
        (spawnSync('ip', ['-V']).status !== 0 && 'no ip (iproute2)'),
    },
    async (t) => {
      const e = env(t, { runtime: RUNTIME });
      const ns = `husk-ckpt-${process.pid}`;
      const add = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
      assert.equal(add.status, 0, `ip netns add: ${add.stderr}`);
      e.defer(() => spawnSync('ip', ['netns', 'del', ns]));
      const nsPath = `/run/netns/${ns}`;
      const inode = fs.statSync(nsPath).ino;
      const b = counterBundle(t, (c) => {
        c.linux.namespaces = c.linux.namespaces.map((n) =>
          n.type === 'network' ? { type: 'network', path: nsPath } : n,
        );
      });
      const id = e.id('netns');
      const file = path.join(b.rootfs, 'count');
      await runCounter(t, e, b, id, file);
      for (let round = 1; round <= 2; round++) {
        const paths = ['--work-path', e.tmpdir('husk-work-'), '--image-path', e.tmpdir('husk-ckpt-')];
        await roundTrip(e, b, id, file, { paths, what: `round ${round}` });
        const pid = e.state(id).pid;
        assert.equal(
          fs.statSync(`/proc/${pid}/ns/net`).ino,
          inode,
          `round ${round}: the same network namespace`,
        );
      }
      assert.equal(e.husk(['delete', '-f', id], { runtime: RUNTIME }).code, 0);
    },
  );

  // The annotation's file is criu's config for this container: its log-file wins over the
  // runtime's own log name.
  test("org.criu.config: the container's criu config file is read at checkpoint and at restore", async (t) => {
    const e = env(t, { runtime: RUNTIME });
    const conf = path.join(e.tmpdir('husk-criu-conf-'), 'criu.conf');
    const own = `own-${process.pid}.log`;
    fs.writeFileSync(conf, `log-file=${own}\n`);
    const b = counterBundle(t, (c) => {
      c.annotations = { ...(c.annotations ?? {}), 'org.criu.config': conf };
    });
    const id = e.id('conf');
    const file = path.join(b.rootfs, 'count');
    await runCounter(t, e, b, id, file);
    const work = e.tmpdir('husk-work-');
    const paths = ['--work-path', work, '--image-path', e.tmpdir('husk-ckpt-')];
    const c = await rtPiped(e, ['checkpoint', ...paths, id]);
    assert.equal(c.code, 0, `checkpoint: ${show(c)}`);
    assert.ok(fs.existsSync(path.join(work, own)), `criu logged to ${own}: ${fs.readdirSync(work)}`);
    fs.unlinkSync(path.join(work, own));
    const at = count(file);
    const r = await rtPiped(e, ['restore', '-d', ...paths, '--bundle', b.dir, id]);
    assert.equal(r.code, 0, `restore: ${show(r)}`);
    assert.ok(
      fs.existsSync(path.join(work, own)),
      `criu logged the restore to ${own}: ${fs.readdirSync(work)}`,
    );
    await countPast(file, at, 'after restore');
    assert.equal(e.husk(['delete', '-f', id], { runtime: RUNTIME }).code, 0);
  });

  // criu leaves the cgroups alone: the tree comes back in the cgroups criu itself was put in,
  // the new path of the restoring bundle.
  test('--manage-cgroups-mode ignore: restored into the cgroup the new config names', async (t) => {
    const e = env(t, { runtime: RUNTIME });
    const marker = `${process.pid}-${Date.now() % 100000}`;
    const orig = `/husk-ckpt-orig-${marker}`;
    const moved = `/husk-ckpt-moved-${marker}`;
    const b = counterBundle(t, (c) => {
      c.linux.cgroupsPath = orig;
    });
    const id = e.id('cgmove');
    const file = path.join(b.rootfs, 'count');
    await runCounter(t, e, b, id, file);
    const own = (pid) =>
      fs
        .readFileSync(`/proc/${pid}/cgroup`, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(':').slice(2).join(':'));
    assert.ok(own(e.state(id).pid).includes(orig), `in ${orig} first`);
    const paths = ['--work-path', e.tmpdir('husk-work-'), '--image-path', e.tmpdir('husk-ckpt-')];
    const ignore = ['--manage-cgroups-mode', 'ignore'];
    const c = await rtPiped(e, ['checkpoint', ...ignore, ...paths, id]);
    assert.equal(c.code, 0, `checkpoint: ${show(c)}`);
    const config = JSON.parse(fs.readFileSync(path.join(b.dir, 'config.json'), 'utf8'));
    config.linux.cgroupsPath = moved;
    fs.writeFileSync(path.join(b.dir, 'config.json'), JSON.stringify(config));
    const at = count(file);
    const r = await rtPiped(e, ['restore', '-d', ...ignore, ...paths, '--bundle', b.dir, id]);
    assert.equal(r.code, 0, `restore: ${show(r)}`);
    const where = own(e.state(id).pid);
    assert.ok(where.includes(moved), `restored into ${moved}: ${where}`);
    assert.ok(!where.includes(orig), `not in ${orig}: ${where}`);
    for (const root of ['/sys/fs/cgroup', '/sys/fs/cgroup/pids', '/sys/fs/cgroup/unified'])
      assert.ok(!fs.existsSync(path.join(root, orig)), `${path.join(root, orig)} is gone`);
    await countPast(file, at, 'after restore');
    assert.equal(e.husk(['delete', '-f', id], { runtime: RUNTIME }).code, 0);
  });

  test('a bind mount whose destination is a symlink in the image: dumped and restored at its target', async (t) => {
    const e = env(t, { runtime: RUNTIME });
    const { b, data } = bindBundle(
      t,
      e,
      '/conf',
      'i=0; while :; do i=$((i+1)); echo $i > /conf/count; sleep 0.2; done',
    );
    fs.mkdirSync(path.join(b.rootfs, 'real', 'conf'), { recursive: true });
    fs.symlinkSync('/real/conf', path.join(b.rootfs, 'conf'));
    const id = e.id('symdest');
    const file = path.join(data, 'count');
    await runCounter(t, e, b, id, file);
    const paths = ['--work-path', e.tmpdir('husk-work-'), '--image-path', e.tmpdir('husk-ckpt-')];
    await roundTrip(e, b, id, file, { paths, what: 'through the bind' });
    assert.equal(e.husk(['delete', '-f', id], { runtime: RUNTIME }).code, 0);
  });

  test('checkpoint with a bad --parent-path fails naming it, and the container runs on', async (t) => {
    const e = env(t, { runtime: RUNTIME });
    const b = counterBundle(t);
    const id = e.id('parent');
    await runCounter(t, e, b, id, path.join(b.rootfs, 'count'));
    const top = e.tmpdir('husk-ckpt-');
    const paths = ['--work-path', path.join(top, 'work-dir'), '--image-path', path.join(top, 'image-dir')];
    fs.mkdirSync(path.join(top, 'parent-dir'));
    // Absolute, and relative to --image-path but not there.
    for (const parent of [path.join(top, 'parent-dir'), './parent-dir']) {
      const r = await rtPiped(e, ['checkpoint', '--parent-path', parent, ...paths, id]);
      assert.notEqual(r.code, 0, `--parent-path ${parent}: ${show(r)}`);
      assert.match(r.stdout, /--parent-path/, `the error names --parent-path: ${show(r)}`);
      assert.equal(e.state(id).status, 'running', `running after --parent-path ${parent}`);
    }
    assert.equal(e.husk(['delete', '-f', id], { runtime: RUNTIME }).code, 0);
  });
});
