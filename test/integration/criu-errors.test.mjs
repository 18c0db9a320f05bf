// checkpoint and restore where criu cannot do its work (issue 21): criu missing, too old, or
// failing. These run on any host: a fake criu (a Node script speaking criu's RPC on its fd 3,
// with husk's own codec from out/) records the request husk sent and fails it, so the request
// (what is external, the inherited pipes, the cgroup roots) is checked too. The real dumps and
// restores run in the guest (test/guest/criu.test.mjs).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HUSK, REPO, SKIP, env, makeBundle, show, cgroupDirsOf, leftovers } from '../lib/harness.mjs';

const RPC = path.join(REPO, 'out', 'criu', 'rpc.js');

function fakeCriu(e) {
  const dir = e.tmpdir('husk-fake-criu-');
  const file = path.join(dir, 'criu');
  fs.writeFileSync(
    file,
    `#!${process.execPath}
// criu swrk 3: answer VERSION as FAKE_CRIU_VERSION says, fail anything else after recording it.
const fs = require('node:fs');
const rpc = require(${JSON.stringify(RPC)});
const out = process.env.FAKE_CRIU_OUT;
const [major, minor] = (process.env.FAKE_CRIU_VERSION || '3.17').split('.').map(Number);
const buf = Buffer.alloc(1 << 16);
for (;;) {
  let n;
  try { n = fs.readSync(3, buf); } catch { process.exit(0); }
  if (n === 0) process.exit(0);
  const req = rpc.decodeReq(buf.subarray(0, n));
  if (req.type === rpc.REQ.VERSION) {
    fs.writeSync(3, rpc.encodeResp({ type: req.type, success: true, version: { major_number: major, minor_number: minor } }));
    continue;
  }
  // FAKE_CRIU_LAZY=1: lazy migration works here.
  if (req.type === rpc.REQ.FEATURE_CHECK) {
    fs.writeSync(3, rpc.encodeResp({ type: req.type, success: true, features: { lazy_pages: process.env.FAKE_CRIU_LAZY === '1' } }));
    continue;
  }
  const link = (i) => { try { return fs.readlinkSync('/proc/self/fd/' + i); } catch { return ''; } };
  const rec = { req, cgroup: fs.readFileSync('/proc/self/cgroup', 'utf8'), stdio: [0, 1, 2].map(link), fd4: link(4) };
  // FAKE_CRIU_NOTIFY=SCRIPT: that notification first, and the caller's answer recorded.
  if (process.env.FAKE_CRIU_NOTIFY) {
    fs.writeSync(3, rpc.encodeResp({ type: rpc.REQ.NOTIFY, success: true, notify: { script: process.env.FAKE_CRIU_NOTIFY } }));
    const m = fs.readSync(3, buf);
    rec.ack = rpc.decodeReq(buf.subarray(0, m)).notify_success;
  }
  fs.writeFileSync(out, JSON.stringify(rec));
  fs.writeSync(3, rpc.encodeResp({ type: req.type, success: false, cr_errno: 5, cr_errmsg: 'fake criu refuses' }));
}
`,
    { mode: 0o755 },
  );
  return { file, out: path.join(dir, 'req.json') };
}

function sleeper(t, e, mutate) {
  const data = e.tmpdir('husk-bind-');
  const b = makeBundle(
    t,
    (c) => {
      c.mounts.push({ destination: '/data', type: 'bind', source: data, options: ['rbind', 'rw'] });
      mutate?.(c);
    },
    // A private rootfs: restore makes the mountpoints it needs in the rootfs (/data, /dev/pts...),
    // which must not land in the shared busybox rootfs other tests copy.
    { args: ['sleep', '600'], copyRootfs: true },
  );
  return { b, data };
}

function runningSleeper(t, e) {
  const { b, data } = sleeper(t, e);
  const id = e.id('ck');
  const r = e.husk(['run', '-d', '--bundle', b.dir, id]);
  assert.equal(r.code, 0, `run -d: ${show(r)}`);
  return { b, data, id };
}

const hostCriu = spawnSync('criu', ['check'], { encoding: 'utf8' });
const CRIU_WORKS =
  !hostCriu.error && hostCriu.status === 0 && /Looks good/.test(hostCriu.stdout + hostCriu.stderr);

describe('checkpoint and restore when criu cannot do its work', { skip: SKIP }, () => {
  test('criu missing: checkpoint says what to install and the container runs on', async (t) => {
    const e = env(t);
    const { id } = runningSleeper(t, e);
    const r = e.husk(['--criu', '/nonexistent/criu', 'checkpoint', '--image-path', e.tmpdir(), id]);
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stderr, /\/nonexistent\/criu not found: install criu/, show(r));
    assert.equal(e.state(id).status, 'running');
    assert.equal(e.husk(['delete', '-f', id]).code, 0);
    await e.assertClean();
  });

  test('criu missing: restore says what to install and leaves nothing', async (t) => {
    const e = env(t);
    const { b } = sleeper(t, e);
    const id = e.id('rs');
    const r = e.husk(['--criu', '/nonexistent/criu', 'restore', '--image-path', e.tmpdir(), '-b', b.dir, id]);
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stderr, /install criu/, show(r));
    assert.notEqual(e.husk(['state', id]).code, 0, 'no container after a failed restore');
    await e.assertClean();
  });

  test(
    'criu failing on this kernel: the error names its log, which says why',
    { skip: CRIU_WORKS ? 'criu check passes here' : hostCriu.error ? 'no criu on PATH' : false },
    async (t) => {
      const e = env(t);
      const { id } = runningSleeper(t, e);
      const work = e.tmpdir();
      const r = e.husk(['checkpoint', '--image-path', e.tmpdir(), '--work-path', work, id]);
      assert.notEqual(r.code, 0, show(r));
      const log = path.join(work, 'dump.log');
      assert.ok(r.stderr.includes(`criu's log: ${log}`), show(r));
      assert.match(fs.readFileSync(log, 'utf8'), /Error/, "the log has criu's error");
      assert.equal(e.state(id).status, 'running');
      assert.equal(e.husk(['delete', '-f', id]).code, 0);
    },
  );

  test('criu too old: named with the version needed', async (t) => {
    const e = env(t);
    const fake = fakeCriu(e);
    const { id } = runningSleeper(t, e);
    const r = e.husk(['--criu', fake.file, 'checkpoint', '--image-path', e.tmpdir(), id], {
      env: { FAKE_CRIU_VERSION: '2.5', FAKE_CRIU_OUT: fake.out },
    });
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stderr, /criu 2\.5 .* is too old: install criu 3\.0 or later/, show(r));
    assert.equal(e.state(id).status, 'running');
    assert.equal(e.husk(['delete', '-f', id]).code, 0);
  });

  test("a failing dump: the error names criu's dump.log; the request is runc's; the container runs on", async (t) => {
    const e = env(t);
    const fake = fakeCriu(e);
    const { id, b } = runningSleeper(t, e);
    const images = e.tmpdir();
    const work = e.tmpdir();
    const r = e.husk(
      [
        '--criu',
        fake.file,
        'checkpoint',
        '--image-path',
        images,
        '--work-path',
        work,
        '--tcp-established',
        '--manage-cgroups-mode',
        'full',
        id,
      ],
      { env: { FAKE_CRIU_OUT: fake.out } },
    );
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stderr, /criu dump failed: fake criu refuses/, show(r));
    assert.ok(r.stderr.includes(path.join(work, 'dump.log')), `names the log: ${show(r)}`);
    const s = e.state(id);
    assert.equal(s.status, 'running');
    const { req } = JSON.parse(fs.readFileSync(fake.out, 'utf8'));
    assert.equal(req.type, 1);
    assert.equal(req.opts.pid, s.pid);
    assert.equal(req.opts.root, fs.realpathSync(b.rootfs));
    assert.equal(req.opts.log_file, 'dump.log');
    assert.equal(req.opts.tcp_established, true);
    assert.equal(req.opts.manage_cgroups_mode, 4);
    assert.ok(!req.opts.leave_running);
    assert.ok(
      req.opts.ext_mnt.some((m) => m.key === '/data' && m.val === '/data'),
      JSON.stringify(req.opts.ext_mnt),
    );
    // husk spec's masked files are bound from /dev/null: external as /dev/null, as runc has them.
    const masked = b.config.linux.maskedPaths.filter(
      (p) => fs.existsSync(p) && !fs.statSync(p).isDirectory(),
    );
    assert.ok(masked.length, 'this host has masked files');
    for (const p of masked)
      assert.ok(
        req.opts.ext_mnt.some((m) => m.key === p && m.val === '/dev/null'),
        `${p}: ${JSON.stringify(req.opts.ext_mnt)}`,
      );
    assert.ok(!req.opts.ext_mnt.some((m) => m.key === '/proc/acpi'), 'a masked directory is not external');
    const fds = JSON.parse(fs.readFileSync(path.join(images, 'descriptors.json'), 'utf8'));
    assert.equal(fds.length, 3);
    assert.equal(e.husk(['delete', '-f', id]).code, 0);
    await e.assertClean();
  });

  test("a paused container (containerd pauses before every checkpoint): criu freezes through the container's freezer cgroup, as runc asks; after a failed dump it is still paused", async (t) => {
    const e = env(t);
    const fake = fakeCriu(e);
    const { id } = runningSleeper(t, e);
    assert.equal(e.husk(['pause', id]).code, 0);
    const r = e.husk(
      [
        '--criu',
        fake.file,
        'checkpoint',
        '--image-path',
        e.tmpdir(),
        '--work-path',
        e.tmpdir(),
        '--leave-running',
        id,
      ],
      {
        env: { FAKE_CRIU_OUT: fake.out },
      },
    );
    assert.notEqual(r.code, 0, show(r));
    const { req } = JSON.parse(fs.readFileSync(fake.out, 'utf8'));
    assert.equal(req.opts.leave_running, true);
    const dirs = cgroupDirsOf(id);
    assert.ok(
      req.opts.freeze_cgroup && dirs.includes(req.opts.freeze_cgroup),
      `freeze_cgroup ${req.opts.freeze_cgroup} is one of the container's cgroups ${JSON.stringify(dirs)}`,
    );
    const freezer = fs.existsSync(path.join(req.opts.freeze_cgroup, 'cgroup.freeze'))
      ? 'cgroup.freeze'
      : 'freezer.state';
    assert.ok(
      fs.existsSync(path.join(req.opts.freeze_cgroup, freezer)),
      `a freezer in ${req.opts.freeze_cgroup}`,
    );
    assert.equal(e.state(id).status, 'paused');
    assert.equal(e.husk(['delete', '-f', id]).code, 0);
    await e.assertClean();
  });

  // checkpoint --lazy-pages --status-fd N as runc's lazy migration test runs it: the caller reads
  // one NUL byte on N once criu's page server is up.
  function lazyCheckpoint(e, fake, id, envs, statusFd = '3') {
    const ready = path.join(e.tmpdir(), 'ready');
    // prettier-ignore
    const args = [
      '--root', e.root, '--criu', fake.file, 'checkpoint', '--lazy-pages', '--page-server', '0.0.0.0:27277',
      '--status-fd', statusFd, '--image-path', e.tmpdir(), '--work-path', e.tmpdir(), id,
    ];
    const r = e.husk(['-c', 'exec 3>"$0"; exec "$@"', ready, HUSK, ...args], {
      runtime: '/bin/sh',
      root: undefined,
      env: { FAKE_CRIU_OUT: fake.out, ...envs },
    });
    return { r, ready };
  }

  test('--lazy-pages where criu cannot migrate lazily: the error says so, no dump is asked, the container runs on', async (t) => {
    const e = env(t);
    const fake = fakeCriu(e);
    const { id } = runningSleeper(t, e);
    const { r } = lazyCheckpoint(e, fake, id, {});
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stderr, /--lazy-pages: criu 3\.17 .*cannot migrate lazily/, show(r));
    assert.ok(!fs.existsSync(fake.out), 'no dump request after a failed feature check');
    assert.equal(e.state(id).status, 'running');
    assert.equal(e.husk(['delete', '-f', id]).code, 0);
  });

  test('--lazy-pages --status-fd: criu 3.15+ says status-ready and husk writes the NUL byte; an older criu is given the fd', async (t) => {
    const e = env(t);
    const { id } = runningSleeper(t, e);
    for (const version of ['3.17', '3.14']) {
      const fake = fakeCriu(e);
      const { r, ready } = lazyCheckpoint(e, fake, id, {
        FAKE_CRIU_VERSION: version,
        FAKE_CRIU_LAZY: '1',
        FAKE_CRIU_NOTIFY: version === '3.17' ? 'status-ready' : '',
      });
      assert.match(r.stderr, /criu dump failed: fake criu refuses/, `${version}: ${show(r)}`);
      const rec = JSON.parse(fs.readFileSync(fake.out, 'utf8'));
      assert.equal(rec.req.opts.lazy_pages, true, version);
      assert.deepEqual(rec.req.opts.ps, { address: '0.0.0.0', port: 27277 }, version);
      if (version === '3.17') {
        assert.equal(rec.req.opts.status_fd, undefined, 'criu 3.17 is not given the fd');
        assert.equal(rec.ack, true, 'the notification is answered with success');
        assert.deepEqual([...fs.readFileSync(ready)], [0], 'one NUL byte on the status fd');
      } else {
        assert.equal(rec.req.opts.status_fd, 4, 'criu 3.14 writes to the fd itself: its fd 4');
        assert.equal(rec.fd4, ready, "criu's fd 4 is the caller's status fd");
        assert.equal(fs.readFileSync(ready).length, 0, 'husk writes nothing itself');
      }
      assert.equal(e.state(id).status, 'running', version);
    }
    const fake = fakeCriu(e);
    const { r } = lazyCheckpoint(e, fake, id, { FAKE_CRIU_LAZY: '1' }, '77');
    assert.match(r.stderr, /--status-fd 77: not an open file descriptor/, show(r));
    assert.ok(!fs.existsSync(fake.out), 'no dump request with a bad --status-fd');
    assert.equal(e.husk(['delete', '-f', id]).code, 0);
    await e.assertClean();
  });

  // runc's "checkpoint and restore (bind mount, destination is symlink)": the image's /conf is a
  // link to /real/conf, where the bind is mounted; criu knows the mount by that path.
  test('a bind whose destination is a symlink in the image is external by the link target', async (t) => {
    const e = env(t);
    const fake = fakeCriu(e);
    const data = e.tmpdir('husk-bind-');
    const b = makeBundle(
      t,
      (c) => {
        c.mounts.push({ destination: '/conf', type: 'bind', source: data, options: ['rbind', 'rw'] });
      },
      { args: ['sleep', '600'], copyRootfs: true },
    );
    fs.mkdirSync(path.join(b.rootfs, 'real', 'conf'), { recursive: true });
    fs.symlinkSync('/real/conf', path.join(b.rootfs, 'conf'));
    const id = e.id('lnk');
    assert.equal(e.husk(['run', '-d', '--bundle', b.dir, id]).code, 0);
    const mountinfo = fs.readFileSync(`/proc/${e.state(id).pid}/mountinfo`, 'utf8');
    assert.match(mountinfo, / \/real\/conf /, 'the bind is mounted at the link target');
    const images = e.tmpdir();
    const r = e.husk(['--criu', fake.file, 'checkpoint', '--image-path', images, id], {
      env: { FAKE_CRIU_OUT: fake.out },
    });
    assert.match(r.stderr, /criu dump failed: fake criu refuses/, show(r));
    const dump = JSON.parse(fs.readFileSync(fake.out, 'utf8')).req.opts.ext_mnt;
    assert.ok(
      dump.some((m) => m.key === '/real/conf' && m.val === '/real/conf'),
      JSON.stringify(dump),
    );
    assert.ok(!dump.some((m) => m.key === '/conf'), JSON.stringify(dump));
    assert.equal(e.husk(['delete', '-f', id]).code, 0);
    fs.writeFileSync(
      path.join(images, 'descriptors.json'),
      JSON.stringify(['/dev/null', '/dev/null', '/dev/null']),
    );
    fs.rmSync(fake.out);
    const rs = e.husk(
      ['--criu', fake.file, 'restore', '-d', '--image-path', images, '-b', b.dir, e.id('lnk2')],
      {
        env: { FAKE_CRIU_OUT: fake.out },
      },
    );
    assert.match(rs.stderr, /criu restore failed: fake criu refuses/, show(rs));
    const back = JSON.parse(fs.readFileSync(fake.out, 'utf8')).req.opts.ext_mnt;
    assert.ok(
      back.some((m) => m.key === '/real/conf' && m.val === data),
      JSON.stringify(back),
    );
    await e.assertClean();
  });

  // podman restores a pod's container under the pod's SELinux labels this way.
  test('restore --lsm-profile and --lsm-mount-context go to criu; an older criu or a bad profile is refused first', async (t) => {
    const e = env(t);
    const { b } = sleeper(t, e);
    const images = e.tmpdir();
    fs.writeFileSync(
      path.join(images, 'descriptors.json'),
      JSON.stringify(['/dev/null', '/dev/null', '/dev/null']),
    );
    const ctx = 'system_u:object_r:container_file_t:s0:c1,c2';
    const restore = (fake, flags, version = '3.17') =>
      e.husk(
        ['--criu', fake.file, 'restore', '-d', ...flags, '--image-path', images, '-b', b.dir, e.id('lsm')],
        {
          env: { FAKE_CRIU_OUT: fake.out, FAKE_CRIU_VERSION: version },
        },
      );
    let fake = fakeCriu(e);
    const r = restore(fake, [
      '--lsm-profile',
      'selinux:system_u:system_r:container_t:s0:c1,c2',
      '--lsm-mount-context',
      ctx,
    ]);
    assert.match(r.stderr, /criu restore failed: fake criu refuses/, show(r));
    const { req } = JSON.parse(fs.readFileSync(fake.out, 'utf8'));
    assert.equal(req.opts.lsm_profile, 'selinux:system_u:system_r:container_t:s0:c1,c2');
    assert.equal(req.opts.lsm_mount_context, ctx);
    for (const { flags, version, why } of [
      {
        flags: ['--lsm-profile', 'apparmor:x'],
        version: '3.15',
        why: /--lsm-profile needs criu 3\.16 or later \(criu here is 3\.15\)/,
      },
      { flags: ['--lsm-mount-context', ctx], version: '3.15', why: /--lsm-mount-context needs criu 3\.16/ },
      {
        flags: ['--lsm-profile', 'tomoyo:x'],
        version: '3.17',
        why: /--lsm-profile tomoyo:x: expected apparmor:NAME or selinux:LABEL/,
      },
    ]) {
      fake = fakeCriu(e);
      const bad = restore(fake, flags, version);
      assert.notEqual(bad.code, 0, show(bad));
      assert.match(bad.stderr, why, show(bad));
      assert.ok(!fs.existsSync(fake.out), `${flags.join(' ')}: no request to criu`);
    }
    await e.assertClean();
  });

  // runc's "checkpoint --pre-dump (bad --parent-path)": criu reads it relative to the images.
  test('--parent-path absolute, or not a directory there: refused naming it before criu runs', async (t) => {
    const e = env(t);
    const fake = fakeCriu(e);
    const { id } = runningSleeper(t, e);
    const top = e.tmpdir();
    const images = path.join(top, 'image-dir');
    fs.mkdirSync(path.join(top, 'parent-dir'));
    fs.writeFileSync(path.join(top, 'file'), '');
    for (const { parent, why } of [
      { parent: path.join(top, 'parent-dir'), why: /--parent-path .*must be relative/ },
      { parent: '../nothing', why: /invalid --parent-path \.\.\/nothing: .*ENOENT/ },
      { parent: '../file', why: /invalid --parent-path \.\.\/file: .*not a directory/ },
    ]) {
      const r = e.husk(
        ['--criu', fake.file, 'checkpoint', '--parent-path', parent, '--image-path', images, id],
        {
          env: { FAKE_CRIU_OUT: fake.out },
        },
      );
      assert.notEqual(r.code, 0, show(r));
      assert.match(r.stderr, why, show(r));
      assert.ok(!fs.existsSync(fake.out), `${parent}: no request to criu`);
      assert.equal(e.state(id).status, 'running');
    }
    const r = e.husk(
      ['--criu', fake.file, 'checkpoint', '--parent-path', '../parent-dir', '--image-path', images, id],
      {
        env: { FAKE_CRIU_OUT: fake.out },
      },
    );
    assert.match(r.stderr, /criu dump failed: fake criu refuses/, show(r));
    const { req } = JSON.parse(fs.readFileSync(fake.out, 'utf8'));
    assert.equal(req.opts.parent_img, '../parent-dir');
    assert.equal(req.opts.track_mem, true);
    assert.equal(e.husk(['delete', '-f', id]).code, 0);
  });

  test('a failing restore: the error names restore.log and nothing is left (state, cgroup, criu-root)', async (t) => {
    const e = env(t);
    const fake = fakeCriu(e);
    const { b, data } = sleeper(t, e);
    const id = e.id('rs');
    const images = e.tmpdir();
    fs.writeFileSync(
      path.join(images, 'descriptors.json'),
      JSON.stringify(['/dev/null', 'pipe:[111]', 'pipe:[222]']),
    );
    const r = e.husk(['--criu', fake.file, 'restore', '-d', '--image-path', images, '-b', b.dir, id], {
      env: { FAKE_CRIU_OUT: fake.out },
    });
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stderr, /criu restore failed: fake criu refuses/, show(r));
    assert.ok(r.stderr.includes(path.join(images, 'restore.log')), `names the log: ${show(r)}`);
    assert.notEqual(e.husk(['state', id]).code, 0, 'no container after a failed restore');
    const { req, cgroup } = JSON.parse(fs.readFileSync(fake.out, 'utf8'));
    assert.equal(req.type, 2);
    assert.equal(req.opts.rst_sibling, true);
    assert.equal(req.opts.log_file, 'restore.log');
    assert.equal(req.opts.root, path.join(e.root, id, 'criu-root'));
    assert.deepEqual(req.opts.inherit_fd, [
      { key: 'pipe:[111]', fd: 1 },
      { key: 'pipe:[222]', fd: 2 },
    ]);
    assert.ok(
      req.opts.ext_mnt.some((m) => m.key === '/data' && m.val === data),
      JSON.stringify(req.opts.ext_mnt),
    );
    assert.ok(req.opts.ext_mnt.some((m) => m.key === '/dev/null' && m.val === '/dev/null'));
    // criu was put in the container's cgroups, and told them as its roots.
    const dirs = cgroupDirsOf(id);
    if (dirs.length) {
      assert.ok(cgroup.includes(id), `criu ran in the container's cgroup: ${cgroup}`);
      assert.ok(
        req.opts.cg_root.some((c) => c.path.includes(id)),
        JSON.stringify(req.opts.cg_root),
      );
    }
    await e.assertClean();
    assert.deepEqual(leftovers(e).mounts, []);
  });
});
