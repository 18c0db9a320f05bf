// runtime.md: the state of a container and the operations on it (create, start, state, kill, delete).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { check, assertFails, assertOk, describe } from '../lib/harness.mjs';
import { shConfig, defaultConfig } from '../lib/config.mjs';
import {
  nsOf,
  pidAlive,
  cmdlineOf,
  waitFor,
  sleep,
  cgroupsOf,
  cgroupDirsNamed,
  parseMountinfo,
  readOr,
} from '../lib/host.mjs';

const SEMVER = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;
const LONG = shConfig('exec sleep 600');
// A process that reports the signals it gets: pid 1 of a pid namespace only gets the signals it
// has a handler for, so the shell traps them. It prints "ready" once the traps are in place.
const TRAPPER = shConfig(
  "trap 'echo got-USR1; exit 0' USR1; trap 'echo got-TERM; exit 0' TERM; trap 'echo got-HUP; exit 0' HUP; echo ready; while :; do sleep 0.05; done",
);

async function outputHas(env, id, text, timeout = 5000) {
  return waitFor(() => env.rt.output(id).stdout.includes(text), timeout);
}

// --- State -------------------------------------------------------------------------------

check('state.oci-version', 'runtime.md#state', 'state has ociVersion, a SemVer string', async (env) => {
  const c = await env.create(LONG);
  assert.equal(typeof c.state.ociVersion, 'string');
  assert.match(c.state.ociVersion, SEMVER);
});

check('state.id', 'runtime.md#state', 'state has the id given to create', async (env) => {
  const c = await env.create(LONG);
  assert.equal(c.state.id, c.id);
});

check('state.status-created', 'runtime.md#create', 'after create the status is "created"', async (env) => {
  const c = await env.create(LONG);
  assert.equal(c.state.status, 'created');
});

check(
  'state.pid-created',
  'runtime.md#state',
  'state.pid of a created container is a live host pid inside the container namespaces',
  async (env) => {
    const c = await env.create(LONG);
    assert.ok(Number.isInteger(c.state.pid) && c.state.pid > 0, `pid ${c.state.pid}`);
    assert.ok(pidAlive(c.state.pid), `pid ${c.state.pid} is not alive`);
    for (const ns of ['pid', 'uts', 'mnt'])
      assert.notEqual(nsOf(c.state.pid, ns), nsOf('self', ns), `${ns} namespace of pid`);
  },
);

check(
  'state.pid-running',
  'runtime.md#state',
  'state.pid of a running container is the user-specified process',
  async (env) => {
    const c = await env.started(LONG);
    const s = await env.rt.state(c.id);
    assert.equal(s.state.pid, c.pid);
    const argv = await waitFor(() => {
      const a = cmdlineOf(c.pid);
      return a && a[0] === 'sleep' ? a : null;
    });
    assert.deepEqual(argv, ['sleep', '600']);
  },
);

check(
  'state.bundle-absolute',
  'runtime.md#state',
  'state.bundle is the absolute path of the bundle',
  async (env) => {
    const c = await env.create(LONG);
    assert.ok(path.isAbsolute(c.state.bundle), `bundle ${c.state.bundle}`);
    assert.equal(fs.realpathSync(c.state.bundle), fs.realpathSync(c.bundle));
  },
);

check(
  'state.bundle-relative-arg',
  'runtime.md#state',
  'state.bundle is absolute even when create got a relative bundle path',
  async (env) => {
    const bundle = env.bundle(LONG);
    const id = env.id();
    const r = await env.rt.exec(['create', '--bundle', path.basename(bundle), id], {
      cwd: env.base,
      ...env.rt.stdioOf(id),
    });
    assertOk(r, 'create with a relative --bundle');
    const s = await env.rt.state(id);
    assert.ok(s.state, describe(s));
    assert.ok(path.isAbsolute(s.state.bundle), `bundle ${s.state.bundle}`);
    assert.equal(fs.realpathSync(s.state.bundle), fs.realpathSync(bundle));
  },
);

check(
  'state.annotations',
  'runtime.md#state',
  'state.annotations are the annotations of config.json',
  async (env) => {
    const cfg = structuredClone(LONG);
    cfg.annotations = { 'org.example.conformance': 'yes', 'org.example.empty': '', 'com.example.n': '42' };
    const c = await env.create(cfg);
    assert.deepEqual(c.state.annotations, cfg.annotations);
  },
);

check(
  'state.annotations-none',
  'runtime.md#state',
  'without annotations, state.annotations is absent or an empty map',
  async (env) => {
    const c = await env.create(LONG);
    const a = c.state.annotations;
    assert.ok(
      a === undefined || a === null || (typeof a === 'object' && Object.keys(a).length === 0),
      `annotations ${JSON.stringify(a)}`,
    );
  },
);

check('state.status-running', 'runtime.md#start', 'after start the status is "running"', async (env) => {
  const c = await env.started(LONG);
  const s = await env.rt.state(c.id);
  assert.equal(s.state?.status, 'running', describe(s));
});

check(
  'state.status-stopped',
  'runtime.md#kill',
  'when the process exits the status is "stopped"',
  async (env) => {
    const c = await env.started(shConfig('exit 0'));
    const s = await env.waitStatus(c.id, 'stopped');
    assert.equal(s?.status, 'stopped');
  },
);

check(
  'state.unknown-id',
  'runtime.md#query-state',
  'state of an id that does not exist is an error',
  async (env) => {
    assertFails(await env.rt.state(env.id('nope')), 'state of an unknown id');
  },
);

check('state.no-id', 'runtime.md#query-state', 'state without an id is an error', async (env) => {
  assertFails(await env.rt.exec(['state']), 'state without an id');
});

// --- Create ------------------------------------------------------------------------------

check(
  'create.no-user-code',
  'runtime.md#create',
  'create does not run the user-specified program',
  async (env) => {
    const c = await env.create(shConfig('echo user-code-ran'));
    await sleep(300);
    assert.equal(env.rt.output(c.id).stdout, '', 'the process wrote output before start');
    assertOk(await env.rt.start(c.id), 'start');
    assert.ok(await outputHas(env, c.id, 'user-code-ran'), 'start did not run the program');
  },
);

check(
  'create.resources',
  'runtime.md#create',
  'create makes the namespaces, mounts and cgroup of config.json before start',
  async (env) => {
    const cfg = structuredClone(LONG);
    const cg = env.cgroup(`/hc-create-${process.pid}-${Date.now()}`);
    cfg.linux.cgroupsPath = cg;
    const c = await env.create(cfg);
    for (const ns of ['pid', 'net', 'ipc', 'uts', 'mnt'])
      assert.notEqual(nsOf(c.pid, ns), nsOf('self', ns), `${ns} namespace`);
    const mounts = parseMountinfo(readOr(`/proc/${c.pid}/mountinfo`, ''));
    for (const m of ['/proc', '/dev', '/dev/pts', '/dev/shm', '/sys'])
      assert.ok(
        mounts.some((x) => x.mountpoint === m),
        `no ${m} mount in the created container`,
      );
    assert.ok(
      cgroupsOf(c.pid).some((g) => g.path === cg),
      `created process is not in ${cg}: ${readOr(`/proc/${c.pid}/cgroup`)}`,
    );
  },
);

check(
  'create.duplicate-id',
  'runtime.md#create',
  'create with an id already in use is an error and leaves the first container alone',
  async (env) => {
    const c = await env.create(LONG);
    const other = env.bundle(shConfig('echo second'));
    assertFails(await env.rt.exec(['create', '--bundle', other, c.id]), 'second create with the same id');
    const s = await env.rt.state(c.id);
    assert.equal(s.state?.status, 'created', describe(s));
    assert.equal(s.state.pid, c.pid);
    assert.equal(fs.realpathSync(s.state.bundle), fs.realpathSync(c.bundle));
  },
);

check('create.no-id', 'runtime.md#create', 'create without a container id is an error', async (env) => {
  const b = env.bundle(LONG);
  assertFails(await env.rt.exec(['create', '--bundle', b]), 'create without an id');
  assert.deepEqual(fs.readdirSync(env.root), []);
});

check(
  'create.id-traversal',
  'runtime.md#create',
  'create with an id like "../x" is an error and creates nothing outside --root',
  async (env) => {
    const b = env.bundle(LONG);
    const r = await env.rt.exec(['create', '--bundle', b, '../hc-escape']);
    // Remember it so cleanup deletes it should the runtime have accepted it.
    env.ids.push('../hc-escape');
    assertFails(r, 'create with id ../hc-escape');
    assert.ok(!fs.existsSync(path.join(env.base, 'hc-escape')), 'state written outside --root');
  },
);

check('create.id-slash', 'runtime.md#create', 'create with an id containing "/" is an error', async (env) => {
  const b = env.bundle(LONG);
  const r = await env.rt.exec(['create', '--bundle', b, 'hc-a/b']);
  env.ids.push('hc-a/b');
  assertFails(r, 'create with id hc-a/b');
});

check(
  'create.bundle-missing',
  'runtime.md#create',
  'create with a bundle path that does not exist is an error',
  async (env) => {
    const id = env.id();
    assertFails(await env.rt.create(id, env.path('no-such-bundle')), 'create');
    assertFails(await env.rt.state(id), 'state after the failed create');
  },
);

check(
  'create.config-missing',
  'bundle.md#container-format',
  'create with a bundle without config.json is an error',
  async (env) => {
    const id = env.id();
    assertFails(await env.rt.create(id, env.dir('empty-bundle')), 'create');
    assertFails(await env.rt.state(id), 'state after the failed create');
  },
);

check(
  'create.config-change-ignored',
  'runtime.md#lifecycle',
  'changes to config.json after create do not affect the container',
  async (env) => {
    const c = await env.create(shConfig('echo original; hostname'));
    const changed = shConfig('echo changed; hostname');
    changed.hostname = 'changed';
    fs.writeFileSync(path.join(c.bundle, 'config.json'), JSON.stringify(changed));
    assertOk(await env.rt.start(c.id), 'start');
    await env.waitStatus(c.id, 'stopped');
    assert.equal(env.rt.output(c.id).stdout, 'original\nconformance\n');
  },
);

check(
  'create.error-leaves-nothing',
  'runtime.md#errors',
  'a failed create leaves no container, state or cgroup behind',
  async (env) => {
    const cfg = structuredClone(LONG);
    const cg = env.cgroup(`/hc-fail-${process.pid}-${Date.now()}`);
    cfg.linux.cgroupsPath = cg;
    cfg.mounts.push({
      destination: '/tmp',
      type: 'none',
      source: env.path('does-not-exist'),
      options: ['bind'],
    });
    const id = env.id();
    assertFails(await env.rt.create(id, env.bundle(cfg)), 'create with a bind mount of a missing source');
    assertFails(await env.rt.state(id), 'state after the failed create');
    assert.deepEqual(fs.readdirSync(env.root), [], 'state left in --root');
    assert.ok(
      await waitFor(() => cgroupDirsNamed(cg).length === 0, 2000),
      `cgroup left: ${cgroupDirsNamed(cg)}`,
    );
  },
);

check(
  'create.id-reuse',
  'runtime.md#delete',
  'once a container is deleted its id can be used again',
  async (env) => {
    const c = await env.started(shConfig('exit 0'));
    await env.waitStatus(c.id, 'stopped');
    assertOk(await env.rt.delete(c.id), 'delete');
    const again = await env.rt.create(c.id, env.bundle(LONG));
    assertOk(again, 'create with the id of a deleted container');
    const s = await env.rt.state(c.id);
    assert.equal(s.state?.status, 'created');
  },
);

// --- Start -------------------------------------------------------------------------------

check('start.runs-process', 'runtime.md#start', 'start runs the user-specified program', async (env) => {
  const c = await env.started(shConfig('echo "hello from $0"'));
  assert.ok(await outputHas(env, c.id, 'hello from sh'), JSON.stringify(env.rt.output(c.id)));
});

check(
  'start.unknown-id',
  'runtime.md#start',
  'start of an id that does not exist is an error',
  async (env) => {
    assertFails(await env.rt.start(env.id('nope')), 'start of an unknown id');
  },
);

check('start.no-id', 'runtime.md#start', 'start without an id is an error', async (env) => {
  assertFails(await env.rt.exec(['start']), 'start without an id');
});

check(
  'start.running-error',
  'runtime.md#start',
  'start of a running container is an error and has no effect',
  async (env) => {
    const c = await env.started(shConfig('echo started; exec sleep 600'));
    assert.ok(await outputHas(env, c.id, 'started'));
    assertFails(await env.rt.start(c.id), 'second start');
    await sleep(200);
    const s = await env.rt.state(c.id);
    assert.equal(s.state?.status, 'running');
    assert.equal(s.state.pid, c.pid);
    assert.equal(env.rt.output(c.id).stdout, 'started\n', 'the program ran twice');
  },
);

check(
  'start.stopped-error',
  'runtime.md#start',
  'start of a stopped container is an error and has no effect',
  async (env) => {
    const c = await env.started(shConfig('echo once'));
    await env.waitStatus(c.id, 'stopped');
    assertFails(await env.rt.start(c.id), 'start after the process exited');
    await sleep(100);
    const s = await env.rt.state(c.id);
    assert.equal(s.state?.status, 'stopped');
    assert.equal(env.rt.output(c.id).stdout, 'once\n');
  },
);

check(
  'start.no-process',
  'config.md#process',
  'a container without process cannot be started',
  async (env) => {
    const cfg = defaultConfig();
    delete cfg.process;
    const id = env.id();
    const r = await env.rt.create(id, env.bundle(cfg));
    if (r.code !== 0) return; // refusing at create is also an error before any program runs
    assertFails(await env.rt.start(id), 'start without process');
  },
);

// --- Kill --------------------------------------------------------------------------------

for (const sig of ['USR1', 'TERM', 'HUP']) {
  check(
    `kill.delivers-${sig.toLowerCase()}`,
    'runtime.md#kill',
    `kill sends the given signal (${sig}) to the container process`,
    async (env) => {
      const c = await env.started(TRAPPER);
      assert.ok(await outputHas(env, c.id, 'ready'), 'the process did not start');
      assertOk(await env.rt.kill(c.id, sig), `kill ${sig}`);
      assert.ok(
        await outputHas(env, c.id, `got-${sig}`),
        `the process did not get ${sig}: ${JSON.stringify(env.rt.output(c.id))}`,
      );
    },
  );
}

check(
  'kill.sigkill-stops',
  'runtime.md#kill',
  'kill KILL stops a running container and its status becomes "stopped"',
  async (env) => {
    const c = await env.started(LONG);
    assertOk(await env.rt.kill(c.id, 'KILL'), 'kill KILL');
    const s = await env.waitStatus(c.id, 'stopped');
    assert.equal(s?.status, 'stopped');
    assert.ok(await waitFor(() => !pidAlive(c.pid)), 'the process is still alive');
  },
);

check(
  'kill.created',
  'runtime.md#kill',
  'kill of a created container is allowed and stops it without running the program',
  async (env) => {
    const c = await env.create(shConfig('echo user-code-ran'));
    assertOk(await env.rt.kill(c.id, 'KILL'), 'kill KILL on a created container');
    const s = await env.waitStatus(c.id, 'stopped');
    assert.equal(s?.status, 'stopped');
    assert.equal(env.rt.output(c.id).stdout, '');
  },
);

check(
  'kill.stopped-error',
  'runtime.md#kill',
  'kill of a stopped container is an error and has no effect',
  async (env) => {
    const c = await env.started(shConfig('exit 0'));
    await env.waitStatus(c.id, 'stopped');
    assertFails(await env.rt.kill(c.id, 'KILL'), 'kill of a stopped container');
    const s = await env.rt.state(c.id);
    assert.equal(s.state?.status, 'stopped');
  },
);

check('kill.unknown-id', 'runtime.md#kill', 'kill of an id that does not exist is an error', async (env) => {
  assertFails(await env.rt.kill(env.id('nope'), 'KILL'), 'kill of an unknown id');
});

check('kill.no-id', 'runtime.md#kill', 'kill without an id is an error', async (env) => {
  assertFails(await env.rt.exec(['kill']), 'kill without an id');
});

// --- Delete ------------------------------------------------------------------------------

check('delete.stopped', 'runtime.md#delete', 'delete of a stopped container removes it', async (env) => {
  const c = await env.started(shConfig('exit 0'));
  await env.waitStatus(c.id, 'stopped');
  assertOk(await env.rt.delete(c.id), 'delete');
  assertFails(await env.rt.state(c.id), 'state after delete');
  assert.deepEqual(fs.readdirSync(env.root), [], 'state left in --root');
});

check(
  'delete.removes-resources',
  'runtime.md#delete',
  'delete removes the processes and the cgroup made by create',
  async (env) => {
    const cfg = shConfig('exit 0');
    const cg = env.cgroup(`/hc-del-${process.pid}-${Date.now()}`);
    cfg.linux.cgroupsPath = cg;
    const c = await env.started(cfg);
    await env.waitStatus(c.id, 'stopped');
    assert.ok(cgroupDirsNamed(cg).length > 0, 'create made no cgroup at cgroupsPath');
    assertOk(await env.rt.delete(c.id), 'delete');
    assert.ok(!pidAlive(c.pid), 'process still alive');
    assert.ok(
      await waitFor(() => cgroupDirsNamed(cg).length === 0, 2000),
      `cgroup left: ${cgroupDirsNamed(cg)}`,
    );
  },
);

check(
  'delete.keeps-foreign-resources',
  'runtime.md#delete',
  'delete does not remove resources it did not create (a bind mount source)',
  async (env) => {
    const src = env.dir('volume');
    fs.writeFileSync(path.join(src, 'keep'), 'data');
    const cfg = shConfig('cat /tmp/keep');
    cfg.mounts.push({ destination: '/tmp', type: 'none', source: src, options: ['bind', 'ro'] });
    const c = await env.started(cfg);
    await env.waitStatus(c.id, 'stopped');
    assertOk(await env.rt.delete(c.id), 'delete');
    assert.equal(env.rt.output(c.id).stdout, 'data');
    assert.equal(fs.readFileSync(path.join(src, 'keep'), 'utf8'), 'data');
  },
);

check(
  'delete.running-error',
  'runtime.md#delete',
  'delete of a running container is an error and has no effect',
  async (env) => {
    const c = await env.started(LONG);
    assertFails(await env.rt.delete(c.id), 'delete of a running container');
    const s = await env.rt.state(c.id);
    assert.equal(s.state?.status, 'running');
    assert.ok(pidAlive(c.pid), 'the process was killed');
  },
);

check(
  'delete.created-error',
  'runtime.md#delete',
  'delete of a created (not stopped) container is an error and has no effect',
  async (env) => {
    const c = await env.create(LONG);
    assertFails(await env.rt.delete(c.id), 'delete of a created container');
    const s = await env.rt.state(c.id);
    assert.equal(s.state?.status, 'created');
    assert.ok(pidAlive(c.pid), 'the process was killed');
  },
);

check(
  'delete.unknown-id',
  'runtime.md#delete',
  'delete of an id that does not exist is an error',
  async (env) => {
    assertFails(await env.rt.delete(env.id('nope')), 'delete of an unknown id');
  },
);

check('delete.no-id', 'runtime.md#delete', 'delete without an id is an error', async (env) => {
  assertFails(await env.rt.exec(['delete']), 'delete without an id');
});
