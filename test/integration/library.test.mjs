// The in-process API (dist/lib.js, `require('husk')`): the same state as the CLI, the init's
// set-up and exit waited for off the main thread, so a Node program keeps running meanwhile.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, test } from 'node:test';
import { REPO, SKIP, env, makeBundle, show } from '../lib/harness.mjs';

const require = createRequire(import.meta.url);

// Counts the event loop's turns (1 ms timers) while `p` is pending.
async function ticksDuring(p) {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    const value = await p;
    return { ticks, value };
  } finally {
    clearInterval(timer);
  }
}

// Until `husk state` says the container runs (a run() in progress), up to 5 s.
async function untilRunning(e, id) {
  let st;
  for (let i = 0; i < 500 && st?.status !== 'running'; i++) {
    await new Promise((r) => setTimeout(r, 10));
    const r = e.husk(['state', id]);
    if (r.code === 0) st = JSON.parse(r.stdout);
  }
  assert.equal(st?.status, 'running');
  return st;
}

describe('library: Runtime in one Node process', { skip: SKIP }, () => {
  test('create, start, wait and delete; `husk list` and `state` see the container', async (t) => {
    const { Runtime } = require(REPO);
    const e = env(t);
    const b = makeBundle(t, { args: ['sh', '-c', 'exit 7'] });
    const rt = new Runtime({ root: e.root });
    const id = e.id('lib');
    await rt.create(id, { bundle: b.dir });
    assert.equal(e.state(id).status, 'created');
    const listed = e.husk(['list', '--format', 'json']);
    assert.ok(
      JSON.parse(listed.stdout).some((c) => c.id === id),
      `husk list: ${show(listed)}`,
    );
    rt.start(id);
    const status = await rt.wait(id);
    assert.deepEqual(status, { code: 7, signal: null });
    rt.delete(id);
    assert.equal(e.husk(['state', id]).code, 1, 'the container is gone after delete');
  });

  test('create leaves the event loop running while the init sets itself up (a createContainer hook that sleeps 300 ms)', async (t) => {
    const { Runtime } = require(REPO);
    const e = env(t);
    const b = makeBundle(t, (c) => {
      c.hooks = { createContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'sleep 0.3'] }] };
    });
    const rt = new Runtime({ root: e.root });
    const id = e.id('loop');
    const started = Date.now();
    const creating = rt.create(id, { bundle: b.dir });
    // The same container from the same process while create holds its lock: refused at once
    // (a second flock from this process would block the event loop create needs).
    assert.throws(() => rt.delete(id, true), /busy: another operation of this process/);
    const { ticks } = await ticksDuring(creating);
    const took = Date.now() - started;
    assert.ok(took >= 300, `create took ${took} ms, less than the hook's sleep`);
    // A blocked main thread gives 0 turns; a free one about one per ms.
    assert.ok(ticks >= 50, `only ${ticks} event-loop turns in ${took} ms of create`);
    rt.delete(id, true);
  });

  test('wait() on a container another process created resolves when it exits, without polling', async (t) => {
    const { Runtime } = require(REPO);
    const e = env(t);
    const b = makeBundle(t, { args: ['sleep', '600'] });
    const id = e.id('foreign');
    let r = e.husk(['create', '--bundle', b.dir, id]);
    assert.equal(r.code, 0, show(r));
    r = e.husk(['start', id]);
    assert.equal(r.code, 0, show(r));
    const rt = new Runtime({ root: e.root });
    let done = false;
    const waited = rt.wait(id).then((s) => {
      done = true;
      return s;
    });
    const { ticks } = await ticksDuring(new Promise((res) => setTimeout(res, 200)));
    assert.equal(done, false, 'wait() resolved while the container still ran');
    assert.ok(ticks >= 50, `the event loop turned only ${ticks} times while waiting`);
    r = e.husk(['kill', id, 'KILL']);
    assert.equal(r.code, 0, show(r));
    const status = await Promise.race([waited, new Promise((res) => setTimeout(() => res('timeout'), 5000))]);
    assert.deepEqual(status, { code: null, signal: null });
    rt.delete(id, true);
  });

  test('many waits at once do not hold up a create (waits are on the event loop, not the thread pool)', async (t) => {
    const { Runtime } = require(REPO);
    const e = env(t);
    const rt = new Runtime({ root: e.root });
    const sleeper = makeBundle(t, { args: ['sleep', '600'] });
    const ids = [];
    const waits = [];
    // More than libuv's four pool threads, each waited for until the end of the test.
    for (let i = 0; i < 6; i++) {
      const id = e.id(`sleep${i}`);
      await rt.create(id, { bundle: sleeper.dir });
      rt.start(id);
      ids.push(id);
      waits.push(rt.wait(id));
    }
    const quick = makeBundle(t, { args: ['sh', '-c', 'exit 3'] });
    const code = await Promise.race([
      rt.run(e.id('quick'), { bundle: quick.dir }),
      new Promise((res) => setTimeout(() => res('timed out'), 15_000)),
    ]);
    assert.equal(code, 3, 'a run next to six pending waits');
    for (const id of ids) rt.kill(id, 'SIGKILL');
    const statuses = await Promise.all(waits);
    assert.ok(
      statuses.every((s) => s.signal === 9),
      JSON.stringify(statuses),
    );
    for (const id of ids) rt.delete(id);
  });

  test('run() of many containers in a row: exit codes and nothing left', async (t) => {
    const { Runtime } = require(REPO);
    const e = env(t);
    const rt = new Runtime({ root: e.root });
    for (let i = 0; i < 5; i++) {
      const b = makeBundle(t, { args: ['sh', '-c', `exit ${i}`] });
      assert.equal(await rt.run(e.id(`run${i}`), { bundle: b.dir }), i);
    }
    await e.assertClean();
  });

  test('run() with a cgroupsPath whose ancestors are missing: they are removed too, while /husk is kept', async (t) => {
    // In process (as in the husk server) husk's own /husk is kept between containers; the other
    // directories a create makes are the container's. The server once kept them all, forever.
    const { Runtime } = require(REPO);
    const e = env(t);
    const top = `${e.id('anc')}-top`;
    const hierarchies = fs.readdirSync('/sys/fs/cgroup');
    const left = () => hierarchies.filter((h) => fs.existsSync(path.join('/sys/fs/cgroup', h, top)));
    t.after(() => {
      for (const h of left())
        for (const d of ['a/b', 'a', ''])
          try {
            fs.rmdirSync(path.join('/sys/fs/cgroup', h, top, d));
          } catch {
            /* not there */
          }
    });
    const rt = new Runtime({ root: e.root });
    const b = makeBundle(t, (c) => {
      c.process.args = ['true'];
      c.linux.cgroupsPath = `/${top}/a/b`;
    });
    assert.equal(await rt.run(e.id('anc'), { bundle: b.dir }), 0);
    assert.deepEqual(left(), [], `/${top} left behind`);
    await e.assertClean();
  });

  test('run() without start hooks: the program runs at once, with no exec fifo; signals reach it', async (t) => {
    const { Runtime } = require(REPO);
    const e = env(t);
    // As pid 1 of its namespace, the program only gets signals it has a handler for.
    const b = makeBundle(t, { args: ['sh', '-c', 'trap "exit 3" TERM; while :; do sleep 0.1; done'] });
    const rt = new Runtime({ root: e.root });
    const id = e.id('atonce');
    const running = rt.run(id, { bundle: b.dir });
    await untilRunning(e, id);
    assert.ok(!fs.existsSync(path.join(e.root, id, 'exec.fifo')), 'an exec fifo was made');
    // run forwards what this process gets to the container's process.
    process.kill(process.pid, 'SIGTERM');
    assert.equal(await running, 3);
    await e.assertClean();
  });

  test(
    "cgroup v1 cpuset: a container's directory has its parent's cpus and mems; /husk hands them down itself",
    { skip: !fs.existsSync('/sys/fs/cgroup/cpuset/cpuset.cpus') && 'no v1 cpuset hierarchy' },
    async (t) => {
      const { Runtime } = require(REPO);
      const e = env(t);
      const rt = new Runtime({ root: e.root });
      const b = makeBundle(t, { args: ['sh', '-c', 'cat /proc/self/cgroup >/dev/null; sleep 600'] });
      for (const n of [1, 2]) {
        const id = e.id(`cpuset${n}`);
        const running = rt.run(id, { bundle: b.dir });
        const dir = `/sys/fs/cgroup/cpuset/husk/${id}`;
        await untilRunning(e, id);
        for (const f of ['cpuset.cpus', 'cpuset.mems'])
          assert.equal(
            fs.readFileSync(path.join(dir, f), 'utf8'),
            fs.readFileSync(path.join('/sys/fs/cgroup/cpuset/husk', f), 'utf8'),
          );
        assert.equal(fs.readFileSync('/sys/fs/cgroup/cpuset/husk/cgroup.clone_children', 'utf8').trim(), '1');
        e.husk(['kill', id, 'KILL']);
        assert.equal(await running, 137);
      }
      await e.assertClean();
    },
  );

  test("run() of a program that is not there fails with the init's own error, again and again", async (t) => {
    // run answers the ready stage as soon as it has the init's pid (NOTIFY), so the init dies
    // with that answer unread; the kernel may then report ECONNRESET once, ahead of the init's
    // error (seen through the husk server: \`npm run test:server\`), and husk reads on for it.
    const { Runtime } = require(REPO);
    const e = env(t);
    const b = makeBundle(t, { args: ['nosuchbin'] });
    const rt = new Runtime({ root: e.root });
    for (let i = 0; i < 5; i++)
      await assert.rejects(
        rt.run(e.id(`nosuch${i}`), { bundle: b.dir }),
        /\/process\/args\/0: exec: "nosuchbin": executable file not found in \$PATH/,
      );
    await e.assertClean();
  });

  test('run() with a poststart hook goes through start: the hook has run when run() resolves', async (t) => {
    const { Runtime } = require(REPO);
    const e = env(t);
    const mark = path.join(e.root, 'poststart-ran');
    const b = makeBundle(t, (c) => {
      c.process.args = ['true'];
      c.hooks = { poststart: [{ path: '/bin/sh', args: ['sh', '-c', `cat > ${mark}`] }] };
    });
    const rt = new Runtime({ root: e.root });
    const id = e.id('poststart');
    assert.equal(await rt.run(id, { bundle: b.dir }), 0);
    // The hook got the state on its stdin, with the container running.
    const state = JSON.parse(fs.readFileSync(mark, 'utf8'));
    assert.equal(state.id, id);
    assert.equal(state.status, 'running');
    fs.rmSync(mark);
    await e.assertClean();
  });
  test("exec() runs under the container's seccomp filter, with a whole process or with overrides", async (t) => {
    const { Runtime } = require(REPO);
    const e = env(t);
    const rt = new Runtime({ root: e.root });
    // The profile denies mkdir (EPERM); /tmp is a tmpfs, where mkdir works unless denied.
    const bundle = (seccomp) =>
      makeBundle(t, (c) => {
        c.process.args = ['sleep', '600'];
        c.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] });
        if (seccomp)
          c.linux.seccomp = {
            defaultAction: 'SCMP_ACT_ALLOW',
            syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
          };
      });
    const mkdir = (dir) => ['sh', '-c', `mkdir /tmp/${dir} 2>/dev/null`];
    const whole = (args) => ({
      process: { args, cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin:/usr/bin'] },
    });
    const filtered = e.id('seccomp');
    const open = e.id('open');
    await rt.create(filtered, { bundle: bundle(true).dir });
    await rt.create(open, { bundle: bundle(false).dir });
    rt.start(filtered);
    rt.start(open);
    try {
      // Control: without the profile the same calls make their directories.
      assert.equal(await rt.exec(open, whole(mkdir('a'))), 0);
      assert.equal(await rt.exec(open, { overrides: { args: mkdir('b') } }), 0);
      // The library's exec gets the container's filter whatever the caller passes.
      assert.equal(await rt.exec(filtered, whole(mkdir('a'))), 1, 'mkdir got through the filter (process)');
      assert.equal(
        await rt.exec(filtered, { overrides: { args: mkdir('b') } }),
        1,
        'mkdir got through the filter (overrides)',
      );
      assert.equal(await rt.exec(filtered, { ...whole(mkdir('c')), seccomp: undefined }), 1);
    } finally {
      rt.kill(filtered, 'SIGKILL');
      rt.kill(open, 'SIGKILL');
      await rt.wait(filtered);
      await rt.wait(open);
      rt.delete(filtered, true);
      rt.delete(open, true);
    }
    await e.assertClean();
  });
});
