// Cgroup cases from runc's real-world use (issue 19 "Lifecycle and cgroups", issue 23 item 2,
// issue 18's all-or-nothing update), driven through the command line as runc's users drive it.
// RUNTIME=/usr/sbin/runc runs the same tests against runc; assertions on husk's own wording apply
// to husk only, and where runc hangs or is unsafe the test says so and skips it for runc.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { CGROUP_ROOT, SKIP, env, makeBundle, show, sleep, waitFor } from '../lib/harness.mjs';

const RUNTIME = process.env.RUNTIME ? path.resolve(process.env.RUNTIME) : undefined;
const IS_HUSK = !RUNTIME || /husk/.test(path.basename(RUNTIME));
const NAME = RUNTIME ?? 'husk';

const hasV1 = (ctrl) => !SKIP && fs.existsSync(path.join(CGROUP_ROOT, ctrl, 'cgroup.procs'));
const needsV1 = (...ctrls) =>
  SKIP || (ctrls.every(hasV1) ? false : `this host has no v1 ${ctrls.join(', ')} hierarchy`);

// The cgroup2 mount (pure v2: /sys/fs/cgroup; hybrid: /sys/fs/cgroup/unified), or null.
function cgroup2Mount() {
  if (SKIP) return null;
  for (const l of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, mp, type] = l.split(' ');
    if (type === 'cgroup2' && mp.startsWith(CGROUP_ROOT)) return mp;
  }
  return null;
}
const V2 = cgroup2Mount();
const PURE_V2 = V2 === CGROUP_ROOT;

// A directory under a hierarchy, made by the test (before the runtime) and removed after it: the
// container's cgroup as an engine that made it beforehand would leave it. `undo` runs first.
function preMade(e, dir, undo) {
  fs.mkdirSync(dir, { recursive: true });
  e.defer(() => {
    undo?.();
    for (let i = 0; i < 100 && fs.existsSync(dir); i++) {
      try {
        fs.rmdirSync(dir);
      } catch {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      }
    }
  });
}

function bundleIn(t, id, opts = {}) {
  return makeBundle(
    t,
    (c) => {
      c.linux.cgroupsPath = `/husk/${id}`;
      opts.mutate?.(c);
    },
    { args: opts.args ?? ['sleep', '1000'] },
  );
}

describe(`a frozen cgroup at create (${NAME})`, { skip: SKIP }, () => {
  test(
    'v1: create into a cgroup whose freezer.state is FROZEN is refused at once, nothing left',
    { skip: needsV1('freezer') },
    async (t) => {
      const e = env(t, { runtime: RUNTIME });
      const id = e.id('frz');
      const dir = path.join(CGROUP_ROOT, 'freezer', 'husk', id);
      preMade(e, dir, () => fs.writeFileSync(path.join(dir, 'freezer.state'), 'THAWED'));
      fs.writeFileSync(path.join(dir, 'freezer.state'), 'FROZEN');
      const b = bundleIn(t, id);
      const r = e.husk(['create', '-b', b.dir, id], { timeout: 20_000 });
      assert.ok(!r.timedOut, `create hung on the frozen cgroup: ${show(r)}`);
      assert.notEqual(r.code, 0, show(r));
      assert.match(r.stderr, /container's cgroup unexpectedly frozen/);
      assert.equal(fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8'), '', 'a process was left in it');
      assert.equal(e.husk(['state', id]).code === 0, false, 'the container was recorded');
      assert.equal(fs.readFileSync(path.join(dir, 'freezer.state'), 'utf8').trim(), 'FROZEN', 'thawed');
    },
  );

  test(
    'cgroup2: create into a directory whose cgroup.freeze is 1 is refused at once',
    {
      skip:
        SKIP ||
        (!V2 ? 'this host has no cgroup2 hierarchy' : false) ||
        (!IS_HUSK && !PURE_V2
          ? 'runc 1.1.5 checks only the v1 freezer on a hybrid host and hangs in the frozen cgroup2 directory (tried by hand)'
          : false),
    },
    async (t) => {
      const e = env(t, { runtime: RUNTIME });
      const id = e.id('frz2');
      const dir = path.join(V2, 'husk', id);
      preMade(e, dir, () => fs.writeFileSync(path.join(dir, 'cgroup.freeze'), '0'));
      fs.writeFileSync(path.join(dir, 'cgroup.freeze'), '1');
      const b = bundleIn(t, id);
      const r = e.husk(['create', '-b', b.dir, id], { timeout: 20_000 });
      assert.ok(!r.timedOut, `create hung on the frozen cgroup: ${show(r)}`);
      assert.notEqual(r.code, 0, show(r));
      assert.match(r.stderr, /container's cgroup unexpectedly frozen/);
      assert.equal(fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8'), '', 'a process was left in it');
    },
  );

  test(
    'a cgroup frozen while create waits (by a createRuntime hook): create gives up by its deadline, kills and cleans up',
    {
      skip:
        needsV1('freezer') ||
        (!IS_HUSK ? 'runc 1.1.5 waits for ever here (and ignores SIGTERM): tried by hand' : false),
    },
    async (t) => {
      const e = env(t, { runtime: RUNTIME });
      const id = e.id('frzhook');
      const state = path.join(CGROUP_ROOT, 'freezer', 'husk', id, 'freezer.state');
      // The container's own freezer directory, frozen under the init once it has joined.
      const b = bundleIn(t, id, {
        mutate: (c) => {
          c.hooks = {
            createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', `echo FROZEN > ${state}`] }],
          };
        },
      });
      e.defer(() => {
        try {
          fs.writeFileSync(state, 'THAWED');
        } catch {
          /* removed by the runtime */
        }
      });
      const t0 = Date.now();
      const r = e.husk(['create', '-b', b.dir, id], {
        timeout: 30_000,
        env: { HUSK_INTERNAL_SYNC_TIMEOUT_MS: '1500' },
      });
      assert.ok(!r.timedOut, `create hung: ${show(r)}`);
      assert.notEqual(r.code, 0, show(r));
      assert.match(r.stderr, /did not answer within 1\.5 s: its cgroup is frozen \(.*freezer\.state\)/);
      assert.ok(Date.now() - t0 < 15_000, 'create took too long to give up');
      assert.notEqual(e.husk(['state', id]).code, 0, 'the container was recorded');
      await e.assertClean();
    },
  );
});

// The container's processes make sub-cgroups of their own through a writable cgroup mount (a
// cgroup namespace and the /sys/fs/cgroup mount without "ro", as runc's tests do) and move into
// them: x in every hierarchy for the shell, x/y for a sleep it starts.
const SUBCGROUP_SCRIPT = [
  'hs=""',
  'for d in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do case $d in *cpuset*) continue;; esac; [ -f ${d}cgroup.procs ] && hs="$hs $d"; done',
  'for d in $hs; do mkdir -p ${d}x/y && echo $$ > ${d}x/cgroup.procs; done 2>/dev/null',
  `sh -c 'for d in '"$hs"'; do echo $$ > \${d}x/y/cgroup.procs; done 2>/dev/null; exec sleep 1000' &`,
  'exec sleep 1000',
].join('\n');

function writableCgroups(c) {
  for (const m of c.mounts)
    if (m.destination === '/sys/fs/cgroup') m.options = (m.options ?? []).filter((o) => o !== 'ro');
  if (!c.linux.namespaces.some((n) => n.type === 'cgroup')) c.linux.namespaces.push({ type: 'cgroup' });
}

// The hierarchy whose x/y the test watches: pids on v1, the cgroup2 root on pure v2.
const WATCH = hasV1('pids') ? path.join(CGROUP_ROOT, 'pids') : PURE_V2 ? CGROUP_ROOT : null;

describe(`delete --force of a container with sub-cgroups of its own (${NAME})`, { skip: SKIP }, () => {
  test(
    'every process in the subtree is killed and the sub-cgroups removed bottom-up',
    { skip: SKIP || (WATCH ? false : 'this host has neither a v1 pids hierarchy nor pure cgroup v2') },
    async (t) => {
      const e = env(t, { runtime: RUNTIME });
      const id = e.id('subcg');
      const b = bundleIn(t, id, { mutate: writableCgroups, args: ['sh', '-c', SUBCGROUP_SCRIPT] });
      const r = e.husk(['run', '-d', '-b', b.dir, id]);
      assert.equal(r.code, 0, show(r));
      const deep = path.join(WATCH, 'husk', id, 'x', 'y', 'cgroup.procs');
      await waitFor(
        () => fs.existsSync(deep) && fs.readFileSync(deep, 'utf8').trim() !== '',
        `a process in ${deep}`,
      );
      const d = e.husk(['delete', '--force', id]);
      assert.equal(d.code, 0, show(d));
      for (const h of fs.readdirSync(CGROUP_ROOT))
        assert.ok(!fs.existsSync(path.join(CGROUP_ROOT, h, 'husk', id)), `${h}/husk/${id} is left`);
      if (PURE_V2) assert.ok(!fs.existsSync(path.join(CGROUP_ROOT, 'husk', id)), `husk/${id} is left`);
      await e.assertClean();
    },
  );
});
