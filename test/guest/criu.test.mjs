// Checkpoint and restore with criu (issue 21), for husk and, with RUNTIME=/usr/sbin/runc, for
// runc side by side: a counter container whose count goes on after restore, --leave-running, a
// pre-dump and a final dump, a bind mount and a tmpfs, a restore under a new id after the
// original was deleted. Runs where `criu check` passes (the Debian 12 guest of scripts/guest/);
// skipped with the reason elsewhere. The containers' stdio are pipes (criu dumps those; a host
// file outside the container's mount namespace it refuses), reattached on restore from
// descriptors.json to the restoring runtime's own pipes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HUSK, env, makeBundle, native, show, waitFor } from '../lib/harness.mjs';
import {
  bindBundle,
  NAME,
  RUNTIME,
  SKIP,
  count,
  countPast,
  counterBundle,
  piped,
  roundTrip,
  rtPiped,
  runCounter,
  timed,
} from './criu-lib.mjs';

describe(`checkpoint and restore with criu (${NAME})`, { skip: SKIP }, () => {
  test('a counter container checkpointed and restored: the count goes on', async (t) => {
    const e = env(t, { runtime: RUNTIME });
    const b = counterBundle(t);
    const id = e.id('count');
    const file = path.join(b.rootfs, 'count');
    await runCounter(t, e, b, id, file);
    const images = e.tmpdir('husk-ckpt-');
    const c = await timed(() => rtPiped(e, ['checkpoint', '--image-path', images, id]));
    assert.equal(c.code, 0, `checkpoint: ${show(c)}`);
    assert.ok(fs.existsSync(path.join(images, 'descriptors.json')), 'descriptors.json in the image');
    const fds = JSON.parse(fs.readFileSync(path.join(images, 'descriptors.json'), 'utf8'));
    assert.equal(fds.length, 3, `descriptors.json: ${JSON.stringify(fds)}`);
    assert.ok(
      fds.every((d) => d.startsWith('pipe:')),
      `descriptors.json names the pipes: ${JSON.stringify(fds)}`,
    );
    // Checkpointed without --leave-running: gone, as runc leaves it.
    assert.notEqual(e.husk(['state', id], { runtime: RUNTIME }).code, 0, 'no state after checkpoint');
    const at = count(file);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(count(file), at, 'the counter stopped at checkpoint');
    const pidFile = path.join(e.tmpdir(), 'pid');
    const r = await timed(() =>
      rtPiped(e, ['restore', '-d', '--image-path', images, '--pid-file', pidFile, '--bundle', b.dir, id]),
    );
    assert.equal(r.code, 0, `restore: ${show(r)}`);
    t.diagnostic(`${NAME}: checkpoint ${c.ms.toFixed(0)} ms, restore ${r.ms.toFixed(0)} ms`);
    const s = e.state(id);
    assert.equal(s.status, 'running');
    assert.equal(String(s.pid), fs.readFileSync(pidFile, 'utf8').trim(), 'pid file = state pid');
    const after = await countPast(file, at, 'after restore');
    assert.ok(after > at);
    assert.equal(e.husk(['delete', '-f', id], { runtime: RUNTIME }).code, 0);
  });

  test('--leave-running: the container goes on running, and its image restores', async (t) => {
    const e = env(t, { runtime: RUNTIME });
    const b = counterBundle(t);
    const id = e.id('leave');
    const file = path.join(b.rootfs, 'count');
    await runCounter(t, e, b, id, file);
    const images = e.tmpdir('husk-ckpt-');
    const c = await rtPiped(e, ['checkpoint', '--leave-running', '--image-path', images, id]);
    assert.equal(c.code, 0, `checkpoint --leave-running: ${show(c)}`);
    assert.equal(e.state(id).status, 'running');
    const at = count(file);
    await countPast(file, at, 'after checkpoint --leave-running');
    assert.equal(e.husk(['delete', '-f', id], { runtime: RUNTIME }).code, 0);
    const r = await rtPiped(e, ['restore', '-d', '--image-path', images, '--bundle', b.dir, id]);
    assert.equal(r.code, 0, `restore: ${show(r)}`);
    assert.equal(e.state(id).status, 'running');
    await countPast(file, 0, 'after restore');
    assert.equal(e.husk(['delete', '-f', id], { runtime: RUNTIME }).code, 0);
  });

  test('a pre-dump, then a final dump with --parent-path, restored', async (t) => {
    const e = env(t, { runtime: RUNTIME });
    const b = counterBundle(t);
    const id = e.id('pre');
    const file = path.join(b.rootfs, 'count');
    await runCounter(t, e, b, id, file);
    const top = e.tmpdir('husk-ckpt-');
    const pre = path.join(top, 'pre');
    const final = path.join(top, 'final');
    const p = await rtPiped(e, ['checkpoint', '--pre-dump', '--image-path', pre, id]);
    assert.equal(p.code, 0, `checkpoint --pre-dump: ${show(p)}`);
    assert.equal(e.state(id).status, 'running', 'running after a pre-dump');
    const c = await rtPiped(e, ['checkpoint', '--parent-path', '../pre', '--image-path', final, id]);
    assert.equal(c.code, 0, `checkpoint --parent-path: ${show(c)}`);
    assert.ok(fs.existsSync(path.join(final, 'parent')), 'the final dump links its parent');
    const at = count(file);
    const r = await rtPiped(e, ['restore', '-d', '--image-path', final, '--bundle', b.dir, id]);
    assert.equal(r.code, 0, `restore: ${show(r)}`);
    await countPast(file, at, 'after restore');
    assert.equal(e.husk(['delete', '-f', id], { runtime: RUNTIME }).code, 0);
  });

  test('a bind mount and a tmpfs: the bind mapped back, the tmpfs content restored', async (t) => {
    const e = env(t, { runtime: RUNTIME });
    const { b, data } = bindBundle(
      t,
      e,
      '/data',
      'echo kept > /scratch/m; i=0; while :; do i=$((i+1)); echo $i > /data/count; sleep 0.2; done',
      [{ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['rw', 'size=1m'] }],
    );
    const id = e.id('mounts');
    const file = path.join(data, 'count');
    await runCounter(t, e, b, id, file);
    await roundTrip(e, b, id, file, {
      paths: ['--image-path', e.tmpdir('husk-ckpt-')],
      what: 'in the bind mount',
    });
    const pid = e.state(id).pid;
    assert.equal(fs.readFileSync(`/proc/${pid}/root/scratch/m`, 'utf8').trim(), 'kept', 'tmpfs content');
    assert.equal(e.husk(['delete', '-f', id], { runtime: RUNTIME }).code, 0);
  });

  // runc restores into the cgroups the config names; with --systemd-cgroup that is a scope the
  // restore asks systemd for again (the checkpoint stopped the old one).
  test(
    '--systemd-cgroup: restored into its scope again, with its limit',
    { skip: !fs.existsSync('/run/systemd/system') && 'systemd is not running (no /run/systemd/system)' },
    async (t) => {
      const e = env(t, { runtime: RUNTIME });
      const marker = e
        .id('sd')
        .replace(/[^a-z0-9]/gi, '')
        .slice(-10);
      const unit = `huskckpt-${marker}.scope`;
      const limit = 64 * 1024 * 1024;
      const b = counterBundle(t, (c) => {
        c.linux.cgroupsPath = `system.slice:huskckpt:${marker}`;
        c.linux.resources = { ...(c.linux.resources ?? {}), memory: { limit } };
      });
      const id = e.id('sd');
      const file = path.join(b.rootfs, 'count');
      const sd = ['--systemd-cgroup'];
      // A failure leaves the container to the env's cleanup: its delete finds the unit in the
      // container's state (husk's record, runc's state.json), without the flag.
      const r0 = await rtPiped(e, [...sd, 'run', '-d', '--bundle', b.dir, id]);
      assert.equal(r0.code, 0, `run -d: ${show(r0)}`);
      await countPast(file, 2, 'before checkpoint');
      const images = e.tmpdir('husk-ckpt-');
      const c = await rtPiped(e, [...sd, 'checkpoint', '--image-path', images, id]);
      assert.equal(c.code, 0, `checkpoint: ${show(c)}`);
      const at = count(file);
      const r = await rtPiped(e, [...sd, 'restore', '-d', '--image-path', images, '--bundle', b.dir, id]);
      assert.equal(r.code, 0, `restore: ${show(r)}`);
      await countPast(file, at, 'after restore');
      const pid = e.state(id).pid;
      const cg = fs
        .readFileSync(`/proc/${pid}/cgroup`, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('0::'))
        .slice(3);
      assert.ok(cg.endsWith(`/${unit}`), `the restored init is in ${cg}, not in ${unit}`);
      assert.equal(
        fs.readFileSync(path.join('/sys/fs/cgroup', cg, 'memory.max'), 'utf8').trim(),
        String(limit),
      );
      const active = spawnSync('systemctl', ['is-active', unit], { encoding: 'utf8' }).stdout.trim();
      assert.equal(active, 'active', `${unit} after restore`);
      assert.equal(e.husk([...sd, 'delete', '-f', id], { runtime: RUNTIME }).code, 0);
      await waitFor(
        () => spawnSync('systemctl', ['is-active', unit], { encoding: 'utf8' }).stdout.trim() !== 'active',
        `${unit} gone after delete`,
        30_000,
      );
    },
  );

  test('restored under a new id after the original was deleted', async (t) => {
    const e = env(t, { runtime: RUNTIME });
    const b = counterBundle(t);
    const id = e.id('old');
    const id2 = e.id('new');
    const file = path.join(b.rootfs, 'count');
    await runCounter(t, e, b, id, file);
    const images = e.tmpdir('husk-ckpt-');
    const c = await rtPiped(e, ['checkpoint', '--image-path', images, id]);
    assert.equal(c.code, 0, `checkpoint: ${show(c)}`);
    e.husk(['delete', '-f', id], { runtime: RUNTIME });
    const at = count(file);
    const r = await rtPiped(e, ['restore', '-d', '--image-path', images, '--bundle', b.dir, id2]);
    assert.equal(r.code, 0, `restore as ${id2}: ${show(r)}`);
    assert.equal(e.state(id2).status, 'running');
    await countPast(file, at, 'after restore under a new id');
    assert.equal(e.husk(['delete', '-f', id2], { runtime: RUNTIME }).code, 0);
  });

  test('restore in the foreground: waits for the container, its exit status is the exit code', async (t) => {
    const e = env(t, { runtime: RUNTIME });
    const b = counterBundle(t);
    const id = e.id('fg');
    const file = path.join(b.rootfs, 'count');
    await runCounter(t, e, b, id, file);
    const images = e.tmpdir('husk-ckpt-');
    const c = await rtPiped(e, ['checkpoint', '--image-path', images, id]);
    assert.equal(c.code, 0, `checkpoint: ${show(c)}`);
    const at = count(file);
    const fg = piped(e, ['--root', e.root, 'restore', '--image-path', images, '--bundle', b.dir, id]);
    await countPast(file, at, 'after a foreground restore');
    assert.equal(e.state(id).status, 'running');
    assert.equal(e.husk(['kill', id, 'KILL'], { runtime: RUNTIME }).code, 0);
    const r = await fg;
    assert.equal(r.code, 137, `restore exits with the container's status: ${show(r)}`);
  });

  test('a terminal container: checkpointed, restored with --console-socket (a new master arrives)', async (t) => {
    const e = env(t, { runtime: RUNTIME });
    const n = native();
    const b = counterBundle(t, (c) => {
      c.process.terminal = true;
    });
    const id = e.id('tty');
    const file = path.join(b.rootfs, 'count');
    const open = [];
    e.defer(() => open.forEach((fd) => fs.closeSync(fd)));
    const sock = path.join(b.dir, 'console.sock');
    const lfd = n.listenUnix(sock);
    open.push(lfd);
    const run = e.huskAsync(['run', '-d', '--console-socket', sock, '--bundle', b.dir, id], {
      runtime: RUNTIME,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const first = n.acceptFd(lfd, 60_000);
    open.push(first.fd);
    const rr = await run.done;
    assert.equal(rr.code, 0, `run -d: ${show(rr)}`);
    await countPast(file, 2, 'before checkpoint');
    const images = e.tmpdir('husk-ckpt-');
    const c = await rtPiped(e, ['checkpoint', '--image-path', images, id]);
    assert.equal(c.code, 0, `checkpoint: ${show(c)}`);
    const at = count(file);
    const sock2 = path.join(b.dir, 'console2.sock');
    const lfd2 = n.listenUnix(sock2);
    open.push(lfd2);
    const rs = e.huskAsync(
      ['restore', '-d', '--console-socket', sock2, '--image-path', images, '--bundle', b.dir, id],
      {
        runtime: RUNTIME,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let second;
    try {
      second = n.acceptFd(lfd2, 60_000);
    } catch (err) {
      const r = await rs.done;
      assert.fail(`no console master from restore (${err.message}): ${show(r)}`);
    }
    open.push(second.fd);
    const r = await rs.done;
    assert.equal(r.code, 0, `restore: ${show(r)}`);
    await countPast(file, at, 'after restore');
    // The restored shell still has its terminal: what it reads comes from the new master.
    const pid = e.state(id).pid;
    assert.match(fs.readlinkSync(`/proc/${pid}/fd/0`), /^\/dev\/pts\//);
    assert.equal(e.husk(['delete', '-f', id], { runtime: RUNTIME }).code, 0);
  });

  // A new network namespace's loopback is down (neither runtime brings it up): the container
  // gets CAP_NET_ADMIN to bring it up before the server listens. busybox's nc ends its side
  // once its stdin ends, so the server's stdin is a pipe that never does.
  test('a TCP connection inside the container survives with --tcp-established', async (t) => {
    const e = env(t, { runtime: RUNTIME });
    const script =
      'busybox ip link set lo up || exit 3; sleep 100000 | busybox nc -l -p 5000 > /srv.out & sleep 1; i=0; while :; do i=$((i+1)); echo $i; echo $i > /count; sleep 0.2; done | busybox nc 127.0.0.1 5000';
    const b = makeBundle(
      t,
      (c, bb) => {
        c.root = { path: bb.rootfs, readonly: false };
        for (const set of ['bounding', 'effective', 'permitted'])
          c.process.capabilities[set] = [...c.process.capabilities[set], 'CAP_NET_ADMIN'];
      },
      { copyRootfs: true, args: ['sh', '-c', script] },
    );
    const id = e.id('tcp');
    const out = path.join(b.rootfs, 'srv.out');
    const lines = () => {
      try {
        return fs.readFileSync(out, 'utf8').split('\n').filter(Boolean).length;
      } catch {
        return 0;
      }
    };
    const r0 = await rtPiped(e, ['run', '-d', '--bundle', b.dir, id]);
    assert.equal(r0.code, 0, `run -d: ${show(r0)}`);
    await waitFor(() => lines() > 2, 'the server got lines', 60_000, 100);
    const images = e.tmpdir('husk-ckpt-');
    const refused = await rtPiped(e, ['checkpoint', '--leave-running', '--image-path', e.tmpdir(), id]);
    assert.notEqual(
      refused.code,
      0,
      `an open connection without --tcp-established is refused: ${show(refused)}`,
    );
    const c = await rtPiped(e, ['checkpoint', '--tcp-established', '--image-path', images, id]);
    assert.equal(c.code, 0, `checkpoint --tcp-established: ${show(c)}`);
    const at = lines();
    const r = await rtPiped(e, [
      'restore',
      '-d',
      '--tcp-established',
      '--image-path',
      images,
      '--bundle',
      b.dir,
      id,
    ]);
    assert.equal(r.code, 0, `restore --tcp-established: ${show(r)}`);
    await waitFor(
      () => lines() > at + 2,
      `the connection carries lines after restore (${lines()} of ${at})`,
      60_000,
      100,
    );
    assert.equal(e.husk(['delete', '-f', id], { runtime: RUNTIME }).code, 0);
  });
});

// podman 4.3 with the runtime under test (`--runtime`): conmon's stdio pipes are the container's,
// reattached on restore from descriptors.json, so `podman logs` shows the count going on.
const PODMAN = '/usr/bin/podman';
describe(
  `podman container checkpoint/restore (${NAME})`,
  {
    skip: SKIP || (!fs.existsSync(PODMAN) ? 'podman not installed' : false),
  },
  () => {
    const IMAGE = 'localhost/husk-criu:test';
    let base;
    let dir;
    const podman = (args, timeout = 180_000) => {
      const r = spawnSync(PODMAN, [...base, '--runtime', RUNTIME, ...args], { encoding: 'utf8', timeout });
      return { code: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    };
    const ok = (r, what) => {
      assert.equal(r.code, 0, `${what}: ${show(r)}`);
      return r;
    };
    const numbers = (name) =>
      podman(['logs', name])
        .stdout.split('\n')
        .filter((l) => /^\d+$/.test(l))
        .map(Number);

    test.before(() => {
      dir = fs.mkdtempSync('/tmp/husk-criu-podman-');
      base = [
        '--root',
        path.join(dir, 'root'),
        '--runroot',
        path.join(dir, 'runroot'),
        '--tmpdir',
        path.join(dir, 'tmp'),
        '--cgroup-manager',
        'cgroupfs',
        '--events-backend',
        'file',
      ];
      const tar = path.join(dir, 'rootfs.tar');
      const t = spawnSync('tar', [
        '-C',
        path.join(path.dirname(HUSK), '..', 'examples', 'busybox', 'rootfs'),
        '-cf',
        tar,
        '.',
      ]);
      assert.equal(t.status, 0, 'tar of the busybox rootfs');
      ok(podman(['import', '-q', tar, IMAGE]), 'podman import');
    });
    test.after(() => {
      if (!base) return;
      podman(['rm', '-a', '-f', '-t', '0']);
      podman(['system', 'reset', '-f']);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const COUNT_OUT = 'i=0; while :; do i=$((i+1)); echo $i; sleep 0.2; done';

    test('checkpoint and restore in place: the logs go on counting', async () => {
      const name = `criu-${process.pid}-a`;
      ok(
        podman(['run', '-d', '--name', name, '--network', 'none', IMAGE, 'sh', '-c', COUNT_OUT]),
        'podman run -d',
      );
      await waitFor(() => numbers(name).length > 3, 'counting', 60_000, 500);
      ok(podman(['container', 'checkpoint', name]), 'podman container checkpoint');
      const at = Math.max(...numbers(name));
      ok(podman(['container', 'restore', name]), 'podman container restore');
      await waitFor(() => Math.max(...numbers(name)) > at + 2, `counting on past ${at}`, 60_000, 500);
      const n = numbers(name);
      assert.ok(n.includes(at + 1), `the count continues from ${at} (not from 1 again): ${n.slice(-5)}`);
      podman(['rm', '-f', '-t', '0', name]);
    });

    test('--export, then --import under a new name after the original is removed', async () => {
      const name = `criu-${process.pid}-b`;
      const name2 = `criu-${process.pid}-c`;
      const archive = path.join(dir, 'ckpt.tar.gz');
      ok(
        podman(['run', '-d', '--name', name, '--network', 'none', IMAGE, 'sh', '-c', COUNT_OUT]),
        'podman run -d',
      );
      await waitFor(() => numbers(name).length > 3, 'counting', 60_000, 500);
      ok(
        podman(['container', 'checkpoint', '--export', archive, name]),
        'podman container checkpoint --export',
      );
      const at = Math.max(...numbers(name));
      ok(podman(['rm', '-f', '-t', '0', name]), 'podman rm');
      ok(
        podman(['container', 'restore', '--import', archive, '--name', name2]),
        'podman container restore --import',
      );
      await waitFor(
        () => numbers(name2).some((x) => x > at + 1),
        `the imported one counts past ${at}`,
        60_000,
        500,
      );
      assert.ok(!numbers(name2).includes(1), 'the imported container did not start counting again');
      podman(['rm', '-f', '-t', '0', name2]);
    });
  },
);
