// Soak: many short containers of /bin/true, 8 at a time, through create → start → (state until
// stopped) → delete and through run; afterwards the host must be as before: no new mounts, no
// cgroups, no state directories, no stray or zombie processes, memory back within noise.
//
// QUICK (default): 100 lifecycles + 40 runs. HUSK_STRESS=full: 1000 + 200.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ROOTFS, SKIP, env, makeBundle, show, sleep } from '../lib/harness.mjs';
import {
  FULL,
  buildStamp,
  MODE,
  MiB,
  entriesOf,
  huskCgroupsWith,
  huskP,
  memAvailable,
  memfdInitsSince,
  mountPointOf,
  mountinfoLines,
  newLines,
  ownZombies,
  pool,
  processesMentioning,
  ticksNow,
  uncleanIn,
} from './lib.mjs';

const LIFECYCLES = FULL ? 1000 : 100;
const RUNS = FULL ? 200 : 40;
const PARALLEL = 8;

describe(`soak (${MODE})`, { skip: SKIP }, () => {
  test(
    `${LIFECYCLES} create/start/wait/delete + ${RUNS} run of /bin/true, ${PARALLEL} at a time, leave nothing`,
    { timeout: FULL ? 3_600_000 : 240_000 },
    async (t) => {
      const e = env(t);
      const b = makeBundle(t, { args: ['/bin/true'] });
      const opts = { root: e.root, marker: e.marker, cwd: e.root, timeout: 60_000 };
      const mountsBefore = mountinfoLines();
      const memBefore = memAvailable();
      const since = ticksNow();
      const stampBefore = buildStamp();
      const failures = [];
      const times = {};
      const timed = async (op, args) => {
        const r = await huskP(args, opts);
        (times[op] ??= []).push(r.ms);
        return r;
      };
      const fail = (id, what, r) => {
        failures.push(`${id}: ${what}: ${show(r)}`);
      };

      // create → start → poll state until stopped → delete
      const lifecycle = async (i) => {
        const id = e.id(`l${i}`);
        let r = await timed('create', ['create', '--bundle', b.dir, id]);
        if (r.code !== 0 || uncleanIn(r)) return fail(id, 'create', r);
        r = await timed('start', ['start', id]);
        if (r.code !== 0 || uncleanIn(r)) {
          fail(id, 'start', r);
          await huskP(['delete', '--force', id], opts);
          return;
        }
        for (let n = 0; ; n++) {
          r = await timed('state', ['state', id]);
          if (r.code !== 0) return fail(id, 'state', r);
          let st;
          try {
            st = JSON.parse(r.stdout);
          } catch {
            return fail(id, 'state is not JSON', r);
          }
          if (st.status === 'stopped') break;
          if (n > 500) return fail(id, `still ${st.status} after 500 polls`, r);
          await sleep(10);
        }
        r = await timed('delete', ['delete', id]);
        if (r.code !== 0 || uncleanIn(r)) fail(id, 'delete', r);
      };
      const run = async (i) => {
        const id = e.id(`r${i}`);
        const r = await timed('run', ['run', '--bundle', b.dir, id]);
        if (r.code !== 0 || uncleanIn(r)) fail(id, 'run', r);
      };

      const t0 = Date.now();
      await pool(
        Array.from({ length: LIFECYCLES }, (_, i) => i),
        PARALLEL,
        lifecycle,
      );
      const t1 = Date.now();
      await pool(
        Array.from({ length: RUNS }, (_, i) => i),
        PARALLEL,
        run,
      );
      const t2 = Date.now();
      const lcRate = LIFECYCLES / ((t1 - t0) / 1000);
      const runRate = RUNS / ((t2 - t1) / 1000);
      t.diagnostic(
        `lifecycle: ${LIFECYCLES} containers in ${((t1 - t0) / 1000).toFixed(1)} s = ${lcRate.toFixed(2)} containers/s (4 husk calls or more each)`,
      );
      t.diagnostic(
        `run: ${RUNS} containers in ${((t2 - t1) / 1000).toFixed(1)} s = ${runRate.toFixed(2)} containers/s`,
      );

      const pct = (a, q) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * q))];
      for (const [op, a] of Object.entries(times))
        t.diagnostic(
          `${op}: ${a.length} calls, median ${pct(a, 0.5)} ms, p95 ${pct(a, 0.95)} ms, max ${Math.max(...a)} ms`,
        );

      // Let the last exits settle before looking at the host.
      await sleep(500);
      const leaks = [];

      const stateDirs = entriesOf(e.root);
      if (stateDirs.length) leaks.push(`state dirs in ${e.root}: ${stateDirs.slice(0, 10).join(', ')}`);

      const cgroups = huskCgroupsWith(e.marker);
      if (cgroups.length) leaks.push(`cgroups: ${cgroups.slice(0, 10).join(', ')}`);

      // Other test runs share this machine: new mounts under their own /tmp directories are theirs.
      const ours = (l) => l.includes(e.marker) || l.includes(ROOTFS) || e.dirs.some((d) => l.includes(d));
      const foreign = (l) => !ours(l) && mountPointOf(l).startsWith('/tmp/');
      let added = newLines(mountsBefore, mountinfoLines());
      if (added.some((l) => !foreign(l))) {
        await sleep(1000); // a mount of another test's may be on its way out
        added = newLines(mountsBefore, mountinfoLines());
      }
      const addedOurs = added.filter((l) => !foreign(l));
      t.diagnostic(
        `mountinfo: ${addedOurs.length} new line(s) not explained by other tests, ${added.length - addedOurs.length} under other tests' /tmp dirs`,
      );
      if (addedOurs.length) leaks.push(`new mounts: ${addedOurs.join(' | ')}`);

      // An init whose create call has exited is pid 1's child, and a zombie there until pid 1
      // reaps it: this machine's pid 1 does so only every second or two.
      let procs = processesMentioning([e.marker], e.dirs);
      for (let i = 0; procs.length && i < 10; i++) {
        await sleep(500);
        procs = processesMentioning([e.marker], e.dirs);
      }
      const zombies = procs.filter((p) => p.zombie);
      const live = procs.filter((p) => !p.zombie);
      if (live.length)
        leaks.push(`processes: ${live.map((p) => `${p.pid} (${p.exe}: ${p.cmdline})`).join('; ')}`);
      if (zombies.length)
        leaks.push(`zombies: ${zombies.map((p) => `${p.pid} (parent ${p.ppid})`).join('; ')}`);
      const mine = ownZombies();
      if (mine.length) leaks.push(`unreaped children of the test: ${mine.join(', ')}`);

      // husk-init processes started since the suite began: those attributable to the suite are
      // leaks; others on this shared machine are reported only.
      const ourPids = new Set(procs.map((p) => p.pid));
      const inits = memfdInitsSince(since);
      const ourInits = inits.filter((p) => ourPids.has(p.pid));
      t.diagnostic(
        `memfd:husk-init processes started during the soak and alive now: ${inits.length} (${ourInits.length} of this suite)`,
      );
      if (ourInits.length) leaks.push(`husk-init processes: ${ourInits.map((p) => p.pid).join(', ')}`);

      let memAfter = memAvailable();
      if (memBefore - memAfter > 200 * MiB) {
        await sleep(2000);
        memAfter = memAvailable();
      }
      const delta = (memBefore - memAfter) / MiB;
      t.diagnostic(
        `MemAvailable: ${(memBefore / MiB).toFixed(0)} MiB before, ${(memAfter / MiB).toFixed(0)} MiB after (${delta >= 0 ? 'down' : 'up'} ${Math.abs(delta).toFixed(1)} MiB; other tests share the machine)`,
      );
      t.diagnostic(
        `failed operations: ${failures.length}; leaks: ${leaks.length ? leaks.join('\n') : 'none'}`,
      );

      for (const f of failures.slice(0, 10)) t.diagnostic(`failed: ${f.replace(/\n/g, ' | ')}`);
      // Failed operations count unless husk was rebuilt during the soak (then they are reported
      // only); leaks count always.
      const rebuilt = buildStamp() !== stampBefore;
      if (rebuilt && failures.length)
        t.diagnostic(`husk was rebuilt during the soak: ${failures.length} failed operation(s) not counted`);
      else assert.deepEqual(failures.slice(0, 10), [], `${failures.length} container(s) failed`);
      assert.deepEqual(leaks, [], 'the soak left things behind');
      assert.ok(
        delta < 200,
        `MemAvailable dropped by ${delta.toFixed(1)} MiB over the soak (bound: 200 MiB)`,
      );
      await e.assertClean();
    },
  );
});
