// `husk server` and the front binary (bin/husk): calls the server runs in its own process must
// behave as the Node CLI's do (output, exit codes, pid files, stdin, relative paths, signals,
// --preserve-fds), the container's processes must descend from the caller, not the server, and
// what the server does not serve (other namespaces, events, help) must still work by falling
// back to the Node CLI. The server must keep nothing of a call (fds, cwd) once it is over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { NODE_ENV, startHuskServer } from '../lib/husk-server.mjs';
import { env, HUSK, makeBundle, parseStatus, REPO, show, SKIP, waitFor } from '../lib/harness.mjs';

// A server of the test's own, stopped when the test ends. Called before env(t), so its stop
// runs before the harness's leftover check (a failing after hook ends the ones after it).
async function startServer(t) {
  const s = await startHuskServer();
  t.after(s.stop);
  return { ...s, opts: { env: { HUSK_SERVER_DIR: s.dir } } };
}

function fdCount(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

// The server closes a call's socket just after its answer, which the caller may see first: the
// count is read until it reaches `want` (or stops falling, when there is nothing to compare yet).
async function settledFdCount(pid, want) {
  let n = fdCount(pid);
  for (let i = 0; i < 40 && n !== want; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const m = fdCount(pid);
    if (want === undefined && m === n) break;
    n = m;
  }
  return n;
}

test(
  'run through the server: output, exit codes, stdin, a relative bundle path',
  { skip: SKIP },
  async (t) => {
    const e = env(t);
    const s = await startServer(t);
    const b = makeBundle(t, { args: ['sh', '-c', 'echo out-$((6*7)); echo err >&2; exit 7'] });
    let r = e.husk(['run', '--bundle', b.dir, e.id('a')], s.opts);
    assert.equal(r.code, 7, show(r));
    assert.equal(r.stdout, 'out-42\n');
    assert.equal(r.stderr, 'err\n');

    const cat = makeBundle(t, { args: ['cat'] });
    r = e.husk(['run', '--bundle', path.basename(cat.dir), e.id('b')], {
      ...s.opts,
      cwd: path.dirname(cat.dir),
      input: 'through stdin\n',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'through stdin\n');

    const tally = await s.stop();
    assert.equal(tally.served, 2, `calls the server ran: ${tally.log}`);
    await e.assertClean();
  },
);

test(
  'the engine path through the server: create, start, state, kill, delete, pid file',
  { skip: SKIP },
  async (t) => {
    const e = env(t);
    const s = await startServer(t);
    const b = makeBundle(t, { args: ['sleep', '30'] });
    const id = e.id('eng');
    const pidFile = path.join(e.tmpdir(), 'pid');
    let r = e.husk(['create', '--bundle', b.dir, '--pid-file', pidFile, id], s.opts);
    assert.equal(r.code, 0, show(r));
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    let st = JSON.parse(e.husk(['state', id], s.opts).stdout);
    assert.equal(st.status, 'created');
    assert.equal(st.pid, pid);
    // The init descends from the caller's front (now exited, so reparented), never the server.
    assert.notEqual(Number(parseStatus(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).PPid), s.pid);
    assert.equal(e.husk(['start', id], s.opts).code, 0);
    st = JSON.parse(e.husk(['state', id], s.opts).stdout);
    assert.equal(st.status, 'running');
    assert.equal(e.husk(['kill', id, 'KILL'], s.opts).code, 0);
    await waitFor(() => JSON.parse(e.husk(['state', id], s.opts).stdout).status === 'stopped', 'stopped');
    r = e.husk(['delete', id], s.opts);
    assert.equal(r.code, 0, show(r));
    r = e.husk(['state', id], s.opts);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^husk: .*does not exist/);
    const tally = await s.stop();
    assert.ok(tally.served >= 8 && tally.handedBack === 0, tally.log);
    await e.assertClean();
  },
);

test(
  "a foreground container is the front's child and gets the signals the front gets",
  { skip: SKIP },
  async (t) => {
    const e = env(t);
    const s = await startServer(t);
    const b = makeBundle(t, { args: ['sh', '-c', 'trap "exit 42" TERM; while :; do sleep 0.05; done'] });
    const id = e.id('fg');
    const run = e.huskAsync(['run', '--bundle', b.dir, id], s.opts);
    const pid = await waitFor(() => {
      const r = e.husk(['state', id], s.opts);
      return r.code === 0 && JSON.parse(r.stdout).status === 'running' ? JSON.parse(r.stdout).pid : 0;
    }, 'the container to run');
    assert.equal(Number(parseStatus(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).PPid), run.child.pid);
    // Other calls are served while this one waits.
    assert.equal(e.husk(['state', id], s.opts).code, 0);
    run.child.kill('SIGTERM');
    const done = await run.done;
    assert.equal(done.code, 42, JSON.stringify(done));
    await e.assertClean();
  },
);

test('exec through the server: exit code, pid file, --preserve-fds', { skip: SKIP }, async (t) => {
  const s = await startServer(t);
  const e = env(t);
  const b = makeBundle(t, { args: ['sleep', '30'] });
  const id = e.id('ex');
  assert.equal(e.husk(['run', '-d', '--bundle', b.dir, id], s.opts).code, 0);
  const pidFile = path.join(e.tmpdir(), 'exec.pid');
  let r = e.husk(['exec', '--pid-file', pidFile, id, 'sh', '-c', 'exit 5'], s.opts);
  assert.equal(r.code, 5, show(r));
  assert.ok(Number(fs.readFileSync(pidFile, 'utf8')) > 0);

  const dir = e.tmpdir();
  const extra = fs.openSync(path.join(dir, 'fd3'), 'w+');
  try {
    const p = spawnSync(
      HUSK,
      ['--root', e.root, 'exec', '--preserve-fds', '1', id, 'sh', '-c', 'echo via-fd3 >&3'],
      {
        stdio: ['ignore', 'pipe', 'pipe', extra],
        env: { ...process.env, ...s.opts.env },
        encoding: 'utf8',
        timeout: 20000,
      },
    );
    assert.equal(p.status, 0, p.stderr);
  } finally {
    fs.closeSync(extra);
  }
  assert.equal(fs.readFileSync(path.join(dir, 'fd3'), 'utf8'), 'via-fd3\n');
  r = e.husk(['delete', '--force', id], s.opts);
  assert.equal(r.code, 0, show(r));
  const tally = await s.stop();
  assert.equal(tally.handedBack, 0, tally.log);
  await e.assertClean();
});

test('what the server does not serve falls back to the Node CLI', { skip: SKIP }, async (t) => {
  const s = await startServer(t);
  const e = env(t);
  const b = makeBundle(t, { args: ['sleep', '30'] });
  const id = e.id('fb');
  assert.equal(e.husk(['run', '-d', '--bundle', b.dir, id], s.opts).code, 0);
  // Streaming verbs and help are the Node CLI's.
  let r = e.husk(['events', '--stats', id], s.opts);
  assert.equal(r.code, 0, show(r));
  assert.equal(JSON.parse(r.stdout).type, 'stats');
  r = e.husk(['--help'], s.opts);
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /husk \[global options\]/);
  // A caller in another network namespace is not served: it could not reach what the server can.
  const other = spawnSync('unshare', ['--net', HUSK, '--root', e.root, 'state', id], {
    env: { ...process.env, ...s.opts.env },
    encoding: 'utf8',
  });
  assert.equal(other.status, 0, other.stderr);
  assert.equal(JSON.parse(other.stdout).id, id);
  assert.equal(e.husk(['delete', '--force', id], s.opts).code, 0);
  const tally = await s.stop();
  assert.equal(tally.handedBack, 2, tally.log);
  assert.equal(tally.refused, 1, tally.log);
  assert.match(tally.log, /not serving a caller: differs in net namespace/);
  await e.assertClean();
});

test("the server keeps nothing of a call: fds, cwd; errors are the caller's", { skip: SKIP }, async (t) => {
  const s = await startServer(t);
  const e = env(t);
  const b = makeBundle(t);
  const cwdBefore = fs.readlinkSync(`/proc/${s.pid}/cwd`);
  // One call first: the server opens what it keeps for good (the addon, the husk-init memfd).
  assert.equal(e.husk(['run', '--bundle', b.dir, e.id('w')], s.opts).code, 0);
  const before = await settledFdCount(s.pid);
  const logFile = path.join(e.tmpdir(), 'log.json');
  for (let i = 0; i < 5; i++) {
    const r = e.husk(
      ['--log', logFile, '--log-format', 'json', 'run', '--bundle', b.dir, e.id(`r${i}`)],
      s.opts,
    );
    assert.equal(r.code, 0, show(r));
  }
  const bad = e.husk(['run', '--bundle', path.join(b.dir, 'nope'), e.id('bad')], s.opts);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /^husk: .*nope/m);
  assert.equal(await settledFdCount(s.pid, before), before, 'fds the server holds after the calls');
  assert.equal(fs.readlinkSync(`/proc/${s.pid}/cwd`), cwdBefore);
  await e.assertClean();
});

test('eight callers at once', { skip: SKIP }, async (t) => {
  const s = await startServer(t);
  const e = env(t);
  const b = makeBundle(t);
  const runs = [];
  for (let i = 0; i < 8; i++) runs.push(e.huskAsync(['run', '--bundle', b.dir, e.id(`p${i}`)], s.opts).done);
  for (const r of await Promise.all(runs)) assert.equal(r.code, 0, JSON.stringify(r));
  const tally = await s.stop();
  assert.equal(tally.served, 8, tally.log);
  await e.assertClean();
});

test('one server per directory, and only in a directory of its own user', { skip: SKIP }, async (t) => {
  const s = await startServer(t);
  const e = env(t);
  let r = spawnSync(process.execPath, [path.join(REPO, 'bin', 'husk.js'), 'server', '--dir', s.dir], {
    env: NODE_ENV,
    encoding: 'utf8',
    timeout: 10000,
  });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /already runs/);
  const open = e.tmpdir();
  fs.chmodSync(open, 0o777);
  r = spawnSync(process.execPath, [path.join(REPO, 'bin', 'husk.js'), 'server', '--dir', open], {
    env: NODE_ENV,
    encoding: 'utf8',
    timeout: 10000,
  });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not writable by others/);
});

test('another user is not served, whatever the socket allows', { skip: SKIP }, async (t) => {
  const s = await startServer(t);
  const e = env(t);
  // Opened up on purpose, so that only the server's own check stands in the way.
  fs.chmodSync(s.dir, 0o755);
  fs.chmodSync(path.join(s.dir, 'socket'), 0o666);
  const asNobody = ['--reuid', '65534', '--regid', '65534', '--clear-groups'];
  // The front, as nobody, will not talk to a server of another user's: the Node CLI answers.
  const root = e.tmpdir();
  fs.chmodSync(root, 0o777);
  let r = spawnSync('setpriv', [...asNobody, HUSK, '--root', root, 'list', '--quiet'], {
    env: { ...process.env, ...s.opts.env },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  // A client that does not check (a request in the front's format, sent as nobody) is refused.
  const client = `
import os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
body = b"/\\0state\\0x\\0"
socket.send_fds(s, [struct.pack("<IiiI", 1, 2, 0, 0o22) + body], [0, 1, 2])
print(struct.unpack("<IiiI", s.recv(16))[0])
`;
  if (!fs.existsSync('/usr/bin/python3')) return t.skip('no /usr/bin/python3 for the raw client');
  r = spawnSync('setpriv', [...asNobody, '/usr/bin/python3', '-c', client, path.join(s.dir, 'socket')], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '10', 'the server answers FALLBACK');
  const tally = await s.stop();
  assert.equal(tally.served, 0, tally.log);
  assert.equal(tally.refused, 1, tally.log);
  assert.match(tally.log, /not serving a caller: uid 65534/);
});

test(
  'a hook the server runs can call husk: it is answered by the Node CLI, not queued behind itself',
  { skip: SKIP },
  async (t) => {
    const s = await startServer(t);
    const e = env(t);
    const out = path.join(e.tmpdir(), 'state.json');
    const id = e.id('hook');
    const b = makeBundle(t, (c) => {
      c.hooks = {
        poststart: [
          {
            path: '/bin/sh',
            args: ['sh', '-c', `${HUSK} --root ${e.root} state ${id} > ${out}`],
            env: [`HUSK_SERVER_DIR=${s.dir}`, 'PATH=/usr/sbin:/usr/bin:/sbin:/bin'],
            timeout: 20,
          },
        ],
      };
    });
    const t0 = Date.now();
    const r = e.husk(['run', '--bundle', b.dir, id], s.opts);
    assert.equal(r.code, 0, show(r));
    assert.ok(Date.now() - t0 < 15_000, 'the hook did not wait for its own server');
    assert.equal(JSON.parse(fs.readFileSync(out, 'utf8')).id, id);
    const tally = await s.stop();
    assert.equal(tally.served, 1, tally.log);
    await e.assertClean();
  },
);

test('a container handed the server socket is not served', { skip: SKIP }, async (t) => {
  const s = await startServer(t);
  const e = env(t);
  const r = e.husk(
    [
      'run',
      '--bundle',
      // A private rootfs: the runtime makes /srv and /front to mount on, which must not land in
      // the shared one.
      makeBundle(
        t,
        (c) => {
          c.mounts.push(
            { destination: '/srv', type: 'bind', source: s.dir, options: ['rbind', 'rw'] },
            {
              destination: '/front',
              type: 'bind',
              source: path.join(REPO, 'build', 'Release', 'husk'),
              options: ['bind', 'ro'],
            },
          );
          c.process.args = ['sh', '-c', 'HUSK_SERVER_DIR=/srv /front state x; echo rc=$?'];
        },
        { copyRootfs: true },
      ).dir,
      e.id('in'),
    ],
    s.opts,
  );
  assert.equal(r.code, 0, show(r));
  // Refused, the front falls back to Node, which the container does not have.
  assert.match(r.stdout, /rc=127/);
  assert.match(r.stderr, /husk: run node/);
  const tally = await s.stop();
  assert.equal(tally.refused, 1, tally.log);
  assert.match(tally.log, /not serving a caller: differs in mnt namespace/);
  await e.assertClean();
});
