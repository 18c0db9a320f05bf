// Crash recovery: husk killed at each point of create (HUSK_INTERNAL_CRASH_AT), a container init
// killed from outside, hooks that never exit, an init that ignores SIGTERM, and a --root that is
// full or read-only. Afterwards `list` works and `delete` (--force where needed) leaves nothing:
// no state directory, no cgroup, no process, no mount.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { SKIP, cgroupDirsOf, env, makeBundle, show, sleep, waitFor } from '../lib/harness.mjs';
import {
  entriesOf,
  errorOf,
  memfdInitsSince,
  mountPointOf,
  mountinfoLines,
  processesInCgroup,
  processesMentioning,
  readProc,
  statOf,
  table,
  ticksNow,
  uncleanIn,
} from './lib.mjs';

const POINTS = ['after-record', 'after-cgroups', 'after-spawn', 'after-fork', 'at-ready', 'after-state'];
const rows = [];

function alive(pid) {
  const st = statOf(pid);
  return !!st && st.state !== 'Z';
}

/** What is left on the host of container `id` (state under `root`, default the test's --root). */
function leftOf(e, id, since, root = e.root) {
  const left = [];
  const dir = path.join(root, id);
  if (fs.existsSync(dir)) left.push(`state dir ${dir}`);
  for (const c of cgroupDirsOf(id)) left.push(`cgroup ${c}`);
  for (const p of processesInCgroup(`husk/${id}`)) left.push(`process ${p} in cgroup husk/${id}`);
  // husk-init processes started since the test began that are ours (their cwd in our --root, or
  // our marker in their environment or cgroup); other test runs on this machine make their own.
  const ours = new Set(processesMentioning([e.marker, id], e.dirs).map((p) => p.pid));
  for (const p of memfdInitsSince(since))
    if (ours.has(p.pid)) left.push(`memfd:husk-init process ${p.pid} (state ${p.state})`);
  for (const p of processesMentioning([e.marker, id], e.dirs))
    if (!p.zombie && !left.some((l) => l.includes(`process ${p.pid} `)))
      left.push(`process ${p.pid} (${p.exe}: ${p.cmdline})`);
  for (const l of mountinfoLines()) {
    if (root !== e.root && mountPointOf(l) === root) continue; // the test's own tiny --root
    if (l.includes(id) || e.dirs.some((d) => l.includes(d))) left.push(`mount ${l}`);
  }
  return left;
}

/** Waits (up to 5 s: orphans take a moment to notice) until nothing of `id` is left. */
async function assertNothingLeft(e, id, since, root = e.root) {
  let left = leftOf(e, id, since, root);
  for (let i = 0; left.length && i < 50; i++) {
    await sleep(100);
    left = leftOf(e, id, since, root);
  }
  assert.deepEqual(left, [], `left behind of ${id}`);
}

async function stateOf(e, id) {
  return waitFor(
    () => {
      const r = e.husk(['state', id]);
      return r.code === 0 ? JSON.parse(r.stdout) : null;
    },
    `husk state ${id}`,
    5000,
  );
}

async function waitStatus(e, id, status, timeoutMs = 10_000) {
  return waitFor(
    () => {
      const r = e.husk(['state', id]);
      return r.code === 0 && JSON.parse(r.stdout).status === status ? JSON.parse(r.stdout) : null;
    },
    `container ${id} to be ${status}`,
    timeoutMs,
    30,
  );
}

function listWorks(e, root = e.root) {
  const r = e.husk(['list', '--format', 'json'], { root });
  assert.equal(r.code, 0, `husk list: ${show(r)}`);
  assert.equal(uncleanIn(r), null, show(r));
  // null when there is none, as runc prints an empty list.
  const l = JSON.parse(r.stdout) ?? [];
  assert.ok(Array.isArray(l), r.stdout);
  const t = e.husk(['list'], { root });
  assert.equal(t.code, 0, `husk list: ${show(t)}`);
  return l;
}

describe('crash recovery', { skip: SKIP }, () => {
  for (const point of POINTS) {
    test(`husk create killed ${point}: list works, delete --force leaves nothing`, async (t) => {
      const e = env(t);
      const since = ticksNow();
      const b = makeBundle(t, { args: ['sleep', '1000'] });
      const id = e.id(point);
      const c = e.husk(['create', '--bundle', b.dir, id], { env: { HUSK_INTERNAL_CRASH_AT: point } });
      assert.equal(c.signal, 'SIGKILL', `husk create did not die at ${point}: ${show(c)}`);

      const l = listWorks(e);
      const listed = l.find((s) => s.id === id);
      const st = e.husk(['state', id]);
      assert.equal(uncleanIn(st), null, show(st));
      const status = st.code === 0 ? JSON.parse(st.stdout).status : `error: ${errorOf(st)}`;
      const initPid = st.code === 0 ? JSON.parse(st.stdout).pid : 0;

      const d = e.husk(['delete', '--force', id]);
      rows.push([
        `create killed ${point}`,
        'create: SIGKILL',
        listed ? listed.status : 'absent',
        status,
        `delete --force exit ${d.code}, nothing left`,
      ]);
      assert.equal(d.code, 0, `delete --force after a crash ${point}: ${show(d)}`);
      assert.equal(uncleanIn(d), null, show(d));
      if (initPid > 0) assert.ok(!alive(initPid), `init ${initPid} still alive after delete --force`);
      listWorks(e);
      await assertNothingLeft(e, id, since);
      await e.assertClean();
    });
  }

  for (const when of ['created', 'running']) {
    test(`container init SIGKILLed while ${when}: state says stopped, delete (no force) cleans up`, async (t) => {
      const e = env(t);
      const since = ticksNow();
      const b = makeBundle(t, { args: ['sleep', '1000'] });
      const id = e.id(`k${when}`);
      const c = e.husk(['create', '--bundle', b.dir, id]);
      assert.equal(c.code, 0, show(c));
      if (when === 'running') {
        const s = e.husk(['start', id]);
        assert.equal(s.code, 0, show(s));
      }
      const st = await waitStatus(e, id, when);
      assert.ok(st.pid > 0 && alive(st.pid));
      process.kill(st.pid, 'SIGKILL');
      const after = await waitStatus(e, id, 'stopped');
      assert.equal(after.pid, 0);
      listWorks(e);
      const d = e.husk(['delete', id]);
      rows.push([
        `init SIGKILLed while ${when}`,
        '-',
        when,
        after.status,
        `delete exit ${d.code}, nothing left`,
      ]);
      assert.equal(d.code, 0, `delete after the init was killed: ${show(d)}`);
      await assertNothingLeft(e, id, since);
      await e.assertClean();
    });
  }

  test('a createRuntime hook that never exits, timeout 1 s: create fails cleanly within a few seconds', async (t) => {
    const e = env(t);
    const since = ticksNow();
    const b = makeBundle(t, (c) => {
      c.process.args = ['sleep', '1000'];
      c.hooks = {
        createRuntime: [
          { path: '/bin/sleep', args: ['sleep', '1000'], env: [`HUSK_TEST_MARKER=${e.marker}`], timeout: 1 },
        ],
      };
    });
    const id = e.id('hookcr');
    const t0 = Date.now();
    const c = e.husk(['create', '--bundle', b.dir, id], { timeout: 30_000 });
    const ms = Date.now() - t0;
    rows.push([
      'createRuntime hook hangs (1 s)',
      `create exit ${c.code}`,
      '-',
      '-',
      `${ms} ms: ${errorOf(c)}`,
    ]);
    assert.equal(uncleanIn(c), null, show(c));
    assert.equal(c.code, 1, show(c));
    assert.match(errorOf(c), /createRuntime.*timeout/, show(c));
    assert.ok(ms < 5000, `create took ${ms} ms to give up on a 1 s hook`);
    listWorks(e);
    await assertNothingLeft(e, id, since);
    await e.assertClean();
  });

  test('a poststart hook that never exits, timeout 1 s: start returns within a few seconds, hook killed', async (t) => {
    const e = env(t);
    const since = ticksNow();
    const b = makeBundle(t, (c) => {
      c.process.args = ['sleep', '1000'];
      c.hooks = {
        poststart: [
          { path: '/bin/sleep', args: ['sleep', '1000'], env: [`HUSK_TEST_MARKER=${e.marker}`], timeout: 1 },
        ],
      };
    });
    const id = e.id('hookps');
    const c = e.husk(['create', '--bundle', b.dir, id]);
    assert.equal(c.code, 0, show(c));
    const t0 = Date.now();
    const s = e.husk(['start', id], { timeout: 30_000 });
    const ms = Date.now() - t0;
    assert.equal(uncleanIn(s), null, show(s));
    assert.ok(ms < 5000, `start took ${ms} ms to give up on a 1 s hook`);
    // The spec: a failing poststart hook is a warning; the container goes on.
    if (s.code === 0) assert.match(s.stderr, /poststart.*timeout/, show(s));
    // No hook process left running (the hook's environment carries the marker).
    await sleep(200);
    const hooks = processesMentioning([e.marker], [])
      .filter((p) => !p.zombie)
      .filter((p) => !(readProc(p.pid, 'cgroup') ?? '').includes(`husk/${id}`));
    assert.deepEqual(hooks, [], 'the timed-out poststart hook is still running');
    const st = e.husk(['state', id]);
    const status = st.code === 0 ? JSON.parse(st.stdout).status : errorOf(st);
    rows.push([
      'poststart hook hangs (1 s)',
      `start exit ${s.code}`,
      '-',
      status,
      `${ms} ms, ${s.code === 0 ? 'a warning' : errorOf(s)}, hook killed`,
    ]);
    const d = e.husk(['delete', '--force', id]);
    assert.equal(d.code, 0, show(d));
    await assertNothingLeft(e, id, since);
    await e.assertClean();
  });

  for (const how of ['kill KILL', 'delete --force']) {
    test(`an init that ignores SIGTERM is stopped by ${how}`, async (t) => {
      const e = env(t);
      const since = ticksNow();
      const b = makeBundle(t, { args: ['sh', '-c', "trap '' TERM; sleep 1000"] });
      const id = e.id(how === 'kill KILL' ? 'termk' : 'termd');
      const c = e.husk(['create', '--bundle', b.dir, id]);
      assert.equal(c.code, 0, show(c));
      const s = e.husk(['start', id]);
      assert.equal(s.code, 0, show(s));
      const st = await waitStatus(e, id, 'running');
      // Wait until the init ignores SIGTERM (sh sets the trap, then runs or execs sleep), then
      // show that TERM does nothing.
      await waitFor(
        () => {
          const ign = /^SigIgn:\s*([0-9a-f]+)$/m.exec(readProc(st.pid, 'status') ?? '');
          return ign && (BigInt('0x' + ign[1]) & (1n << 14n)) !== 0n;
        },
        'the init to ignore SIGTERM',
        5000,
      );
      const term = e.husk(['kill', id, 'TERM']);
      assert.equal(term.code, 0, show(term));
      await sleep(500);
      assert.equal((await stateOf(e, id)).status, 'running', 'the init did not ignore SIGTERM');
      let status;
      if (how === 'kill KILL') {
        const k = e.husk(['kill', id, 'KILL']);
        assert.equal(k.code, 0, show(k));
        status = (await waitStatus(e, id, 'stopped')).status;
        const d = e.husk(['delete', id]);
        assert.equal(d.code, 0, show(d));
      } else {
        const d = e.husk(['delete', '--force', id], { timeout: 30_000 });
        assert.equal(d.code, 0, show(d));
        status = 'deleted';
      }
      assert.ok(!alive(st.pid), `init ${st.pid} survived ${how}`);
      rows.push([`init ignores TERM, ${how}`, 'kill TERM: no effect', 'running', status, 'nothing left']);
      await assertNothingLeft(e, id, since);
      await e.assertClean();
    });
  }

  // A --root on a tiny tmpfs, full (free: how many bytes are left: create fails at different
  // steps) or read-only.
  /**
   * @param {any} t
   * @param {any} e
   * @param {{ free?: number, nrInodes?: number, readonly?: boolean }} [opts]
   */
  function tinyRoot(t, e, { free = 0, nrInodes, readonly = false } = {}) {
    const dir = e.tmpdir('husk-test-stress-root-');
    const opts = `size=64k${nrInodes ? `,nr_inodes=${nrInodes}` : ''}`;
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir], { encoding: 'utf8' });
    assert.equal(m.status, 0, `mount tmpfs: ${m.stderr}`);
    // Unmount before the harness looks for leftovers (it runs deferred cleanups first).
    e.defer(() => {
      const u = spawnSync('umount', [dir], { encoding: 'utf8' });
      if (u.status !== 0) spawnSync('umount', ['-l', dir]);
    });
    if (nrInodes) {
      for (let i = 0; ; i++) {
        try {
          fs.writeFileSync(path.join(dir, `fill${i}`), '');
        } catch (err) {
          assert.equal(err.code, 'ENOSPC');
          break;
        }
      }
    } else if (!readonly) {
      fs.writeFileSync(path.join(dir, 'fill'), Buffer.alloc(64 * 1024 - free));
      assert.throws(() => fs.writeFileSync(path.join(dir, 'probe'), Buffer.alloc(free + 4096)));
      fs.rmSync(path.join(dir, 'probe'), { force: true });
    }
    if (readonly) {
      const r = spawnSync('mount', ['-o', 'remount,ro', dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, `remount ro: ${r.stderr}`);
    }
    return dir;
  }

  const ROOTS = [
    { name: 'a full tmpfs', opts: { free: 0 }, error: /ENOSPC|no space/i },
    { name: 'a tmpfs with 4 KiB free', opts: { free: 4096 }, error: /ENOSPC|no space/i },
    { name: 'a tmpfs with 8 KiB free', opts: { free: 8192 }, error: /ENOSPC|no space/i },
    { name: 'a tmpfs out of inodes', opts: { nrInodes: 4 }, error: /ENOSPC|no space/i },
    { name: 'a read-only tmpfs', opts: { readonly: true }, error: /EROFS|read-only/i },
  ];
  for (const { name, opts, error } of ROOTS) {
    for (const verb of ['create', 'run']) {
      test(`--root on ${name}: ${verb} fails with a clear error and leaves nothing`, async (t) => {
        const e = env(t);
        const since = ticksNow();
        const b = makeBundle(t, { args: ['/bin/true'] });
        const root = tinyRoot(t, e, opts);
        const before = entriesOf(root).sort();
        const id = e.id(`${verb}tiny`);
        const c = e.husk([verb, '--bundle', b.dir, id], { root, timeout: 30_000 });
        rows.push([
          `--root on ${name}`,
          `${verb} exit ${c.code}`,
          '-',
          '-',
          errorOf(c).replaceAll(root, '<root>').replaceAll(id, '<id>').slice(0, 90),
        ]);
        assert.equal(uncleanIn(c), null, show(c));
        assert.equal(c.code, 1, show(c));
        assert.match(errorOf(c), error, show(c));
        assert.deepEqual(entriesOf(root).sort(), before, 'files left in the --root');
        listWorks(e, root);
        await assertNothingLeft(e, id, since, root);
      });
    }
  }

  // Found here and fixed since: on a full --root the error was a bare "ENOSPC: no space left on
  // device, write", naming neither the --root nor the file.
  test('--root on a full tmpfs: the error names the state directory', async (t) => {
    const e = env(t);
    const b = makeBundle(t, { args: ['/bin/true'] });
    const root = tinyRoot(t, e, { free: 0 });
    const id = e.id('fullmsg');
    const c = e.husk(['create', '--bundle', b.dir, id], { root });
    assert.equal(c.code, 1, show(c));
    assert.ok(errorOf(c).includes(root), `the error does not name ${root}: ${errorOf(c)}`);
  });

  test('summary', (t) => {
    for (const l of table(rows, ['case', 'husk', 'list said', 'state said', 'afterwards / error']).split(
      '\n',
    ))
      t.diagnostic(l);
  });
});
