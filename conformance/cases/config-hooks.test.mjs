// config.md#posix-platform-hooks and the hook steps of runtime.md#lifecycle: when each hook runs,
// in which namespace, what it gets on stdin, and what a failing hook does.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { check, assertFails, assertOk, describe } from '../lib/harness.mjs';
import { shConfig } from '../lib/config.mjs';
import { nsOf, pidAlive, waitFor, sleep } from '../lib/host.mjs';

const REF = 'config.md#posix-platform-hooks';
const HOST_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const IN_CONTAINER = new Set(['startContainer']);

/**
 * A config whose program is `script`, with /run bound to a host dir (logDir) so that hooks in
 * the runtime namespace (host path) and in the container (/run) write to the same files.
 */
function setup(env, script = 'echo program >> /run/log; exec sleep 600') {
  const logDir = env.dir('hooklog', 0o777);
  const cfg = shConfig(script);
  cfg.mounts.push({ destination: '/run', type: 'none', source: logDir, options: ['bind', 'rw'] });
  cfg.hooks = {};
  const dirFor = (kind) => (IN_CONTAINER.has(kind) ? '/run' : logDir);
  return {
    cfg,
    logDir,
    /** Adds a hook of `kind` running `sh -c script`; $D is the log dir as that hook sees it. */
    add(kind, script, extra = {}) {
      (cfg.hooks[kind] ??= []).push({
        path: '/bin/sh',
        args: ['sh', '-c', `D=${dirFor(kind)}; ${script}`],
        env: [HOST_PATH],
        ...extra,
      });
    },
    /** Adds a hook that appends its name to the log. */
    mark(kind, name = kind) {
      this.add(kind, `echo ${name} >> $D/log`);
    },
    log() {
      const p = path.join(logDir, 'log');
      return fs.existsSync(p) ? fs.readFileSync(p, 'utf8').split('\n').filter(Boolean) : [];
    },
    read(name) {
      const p = path.join(logDir, name);
      return fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : null;
    },
  };
}

const ALL = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'];

function allHooks(env) {
  const h = setup(env);
  for (const k of ALL) h.mark(k);
  return h;
}

// --- When hooks run ----------------------------------------------------------------------

check(
  'hooks.prestart-at-create',
  'config.md#prestart',
  'prestart hooks run during create, before createRuntime hooks',
  async (env) => {
    const h = allHooks(env);
    await env.create(h.cfg);
    const log = h.log();
    assert.ok(log.includes('prestart'), `log after create: ${log}`);
    assert.ok(log.indexOf('prestart') < log.indexOf('createRuntime'), `log after create: ${log}`);
  },
);

check(
  'hooks.create-runtime-at-create',
  'config.md#createruntime-hooks',
  'createRuntime hooks run during create',
  async (env) => {
    const h = allHooks(env);
    await env.create(h.cfg);
    assert.ok(h.log().includes('createRuntime'), `log after create: ${h.log()}`);
  },
);

check(
  'hooks.create-container-at-create',
  'config.md#createcontainer-hooks',
  'createContainer hooks run during create, after createRuntime hooks',
  async (env) => {
    const h = allHooks(env);
    await env.create(h.cfg);
    const log = h.log();
    assert.ok(log.includes('createContainer'), `log after create: ${log}`);
    assert.ok(log.indexOf('createRuntime') < log.indexOf('createContainer'), `log after create: ${log}`);
  },
);

check(
  'hooks.create-runs-no-start-hooks',
  'runtime.md#lifecycle',
  'create runs no startContainer, poststart or poststop hook and not the program',
  async (env) => {
    const h = allHooks(env);
    await env.create(h.cfg);
    await sleep(200);
    assert.deepEqual(h.log(), ['prestart', 'createRuntime', 'createContainer']);
  },
);

check(
  'hooks.start-container-at-start',
  'config.md#startcontainer-hooks',
  'startContainer hooks run during start, before the program',
  async (env) => {
    const h = allHooks(env);
    await env.started(h.cfg);
    assert.ok(await waitFor(() => h.log().includes('program')), `log: ${h.log()}`);
    const log = h.log();
    assert.ok(log.includes('startContainer'), `log: ${log}`);
    assert.ok(log.indexOf('startContainer') < log.indexOf('program'), `log: ${log}`);
  },
);

check(
  'hooks.poststart-before-start-returns',
  'config.md#poststart',
  'poststart hooks have run when start returns',
  async (env) => {
    const h = allHooks(env);
    const c = await env.create(h.cfg);
    assert.ok(!h.log().includes('poststart'), 'poststart ran at create');
    assertOk(await env.rt.start(c.id), 'start');
    assert.ok(h.log().includes('poststart'), `log when start returned: ${h.log()}`);
    assert.ok(h.log().indexOf('startContainer') < h.log().indexOf('poststart'), `log: ${h.log()}`);
  },
);

check(
  'hooks.poststop-at-delete',
  'config.md#poststop',
  'poststop hooks run during delete, not before',
  async (env) => {
    const h = allHooks(env);
    const c = await env.started(h.cfg);
    assertOk(await env.rt.kill(c.id, 'KILL'), 'kill');
    await env.waitStatus(c.id, 'stopped');
    await sleep(100);
    assert.ok(!h.log().includes('poststop'), `poststop ran before delete: ${h.log()}`);
    assertOk(await env.rt.delete(c.id), 'delete');
    assert.equal(h.log().at(-1), 'poststop', `log after delete: ${h.log()}`);
  },
);

check('hooks.listed-order', REF, 'hooks of one kind run in the listed order', async (env) => {
  const h = setup(env);
  for (const n of ['first', 'second', 'third']) h.mark('createRuntime', n);
  for (const n of ['stop-a', 'stop-b']) h.mark('poststop', n);
  const c = await env.create(h.cfg);
  assertOk(await env.rt.kill(c.id, 'KILL'), 'kill');
  await env.waitStatus(c.id, 'stopped');
  assertOk(await env.rt.delete(c.id), 'delete');
  assert.deepEqual(h.log(), ['first', 'second', 'third', 'stop-a', 'stop-b']);
});

check('hooks.args-env', REF, 'a hook gets its args (args[0] as argv[0]) and exactly its env', async (env) => {
  const h = setup(env);
  const script = `cat /proc/$$/cmdline > ${h.logDir}/cmdline; echo "$0|$1|$FOO|\${HUSK_CONF_LEAK-unset}" > ${h.logDir}/args`;
  h.cfg.hooks.createRuntime = [
    { path: '/bin/sh', args: ['hook-argv0', '-c', script, 'zero', 'one'], env: ['FOO=bar', HOST_PATH] },
  ];
  const id = env.id();
  const r = await env.rt.create(id, env.bundle(h.cfg), { env: { ...process.env, HUSK_CONF_LEAK: 'leaked' } });
  assertOk(r, 'create');
  assert.equal(h.read('cmdline')?.split('\0')[0], 'hook-argv0', 'argv[0]');
  assert.equal(h.read('args'), 'zero|one|bar|unset\n');
});

// --- State on stdin ----------------------------------------------------------------------

for (const kind of ['createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']) {
  check(
    `hooks.state-stdin-${kind.toLowerCase()}`,
    REF,
    `${kind} hooks get the container state on stdin`,
    async (env) => {
      const h = setup(env);
      h.add(kind, `cat > $D/state-${kind}`);
      const c = await env.started(h.cfg);
      assertOk(await env.rt.kill(c.id, 'KILL'), 'kill');
      await env.waitStatus(c.id, 'stopped');
      assertOk(await env.rt.delete(c.id), 'delete');
      const text = h.read(`state-${kind}`);
      assert.ok(text, `${kind} hook wrote nothing`);
      const s = JSON.parse(text);
      assert.equal(s.id, c.id);
      assert.equal(fs.realpathSync(s.bundle), fs.realpathSync(c.bundle));
      assert.match(s.ociVersion, /^\d+\.\d+\.\d+/);
      assert.equal(typeof s.status, 'string');
      if (kind !== 'poststop') assert.equal(s.pid, c.pid, 'pid');
    },
  );
}

// --- Namespaces --------------------------------------------------------------------------

const NS = ['mnt', 'uts', 'net', 'ipc', 'pid'];
const nsScript = `for n in ${NS.join(' ')}; do echo "$n $(readlink /proc/self/ns/$n)"; done > $D/ns-$$; mv $D/ns-$$ $D/ns`;

function nsRecord(h) {
  const text = h.read('ns');
  assert.ok(text, 'hook wrote nothing');
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((l) => l.split(' ')),
  );
}

for (const kind of ['prestart', 'createRuntime', 'poststart', 'poststop']) {
  check(
    `hooks.${kind.toLowerCase()}-runtime-namespace`,
    `config.md#${kind === 'createRuntime' ? 'createruntime-hooks' : kind}`,
    `${kind} hooks run in the runtime namespace`,
    async (env) => {
      const h = setup(env);
      h.add(kind, nsScript);
      const c = await env.started(h.cfg);
      assertOk(await env.rt.kill(c.id, 'KILL'), 'kill');
      await env.waitStatus(c.id, 'stopped');
      assertOk(await env.rt.delete(c.id), 'delete');
      const ns = nsRecord(h);
      for (const n of NS) assert.equal(ns[n], nsOf('self', n), `${n} namespace of the ${kind} hook`);
    },
  );
}

for (const kind of ['createContainer', 'startContainer']) {
  check(
    `hooks.${kind.toLowerCase()}-container-namespace`,
    `config.md#${kind.toLowerCase()}-hooks`,
    `${kind} hooks run in the container namespace`,
    async (env) => {
      const h = setup(env);
      h.add(kind, nsScript);
      const c = await env.started(h.cfg);
      assert.ok(await waitFor(() => h.read('ns')), `${kind} hook wrote nothing`);
      const ns = nsRecord(h);
      // The pid namespace of a process never changes; a hook forked into it shows it as pid_for_children.
      for (const n of ['mnt', 'uts', 'net', 'ipc'])
        assert.equal(ns[n], nsOf(c.pid, n), `${n} namespace of the ${kind} hook`);
    },
  );
}

check(
  'hooks.createcontainer-path-runtime',
  'config.md#createcontainer-hooks',
  'the createContainer hook path resolves in the runtime namespace',
  async (env) => {
    const h = setup(env);
    const script = env.path('host-only-hook.sh');
    fs.writeFileSync(script, `#!/bin/sh\necho host-only >> ${h.logDir}/log\n`, { mode: 0o755 });
    h.cfg.hooks.createContainer = [{ path: script, args: ['host-only-hook.sh'], env: [HOST_PATH] }];
    await env.create(h.cfg);
    assert.deepEqual(h.log(), ['host-only']);
  },
);

check(
  'hooks.startcontainer-path-container',
  'config.md#startcontainer-hooks',
  'the startContainer hook path resolves in the container namespace',
  async (env) => {
    const h = setup(env);
    h.cfg.hooks.startContainer = [
      { path: '/container-only-hook.sh', args: ['container-only-hook.sh'], env: [HOST_PATH] },
    ];
    const b = env.bundle(h.cfg, {
      copy: true,
      readonly: true,
      files: { 'rootfs/container-only-hook.sh': '#!/bin/sh\necho container-only >> /run/log\n' },
    });
    const c = await env.create(h.cfg, { bundle: b });
    assertOk(await env.rt.start(c.id), 'start');
    assert.ok(await waitFor(() => h.log().includes('program')));
    assert.equal(h.log()[0], 'container-only');
  },
);

// --- Failing hooks -----------------------------------------------------------------------

for (const kind of ['prestart', 'createRuntime', 'createContainer']) {
  check(
    `hooks.${kind.toLowerCase()}-fails`,
    'runtime.md#lifecycle',
    `a failing ${kind} hook makes create fail and the container is stopped and destroyed`,
    async (env) => {
      const h = setup(env);
      h.add(kind, 'exit 3');
      const id = env.id();
      const r = await env.rt.create(id, env.bundle(h.cfg));
      assertFails(r, `create with a failing ${kind} hook`);
      const s = await env.rt.state(id);
      assertFails(s, 'state after the failed create');
      assert.deepEqual(fs.readdirSync(env.root), [], 'state left in --root');
      assert.ok(!h.log().includes('program'), 'the program ran');
    },
  );
}

check(
  'hooks.create-fails-runs-poststop',
  'runtime.md#lifecycle',
  'after a failing createRuntime hook the poststop hooks still run',
  async (env) => {
    const h = setup(env);
    h.add('createRuntime', 'exit 3');
    h.mark('poststop');
    const id = env.id();
    assertFails(await env.rt.create(id, env.bundle(h.cfg)), 'create with a failing createRuntime hook');
    assert.ok(await waitFor(() => h.log().includes('poststop'), 2000), `log: ${h.log()}`);
  },
);

check(
  'hooks.startcontainer-fails',
  'runtime.md#lifecycle',
  'a failing startContainer hook makes start fail; the program does not run and the container stops',
  async (env) => {
    const h = setup(env);
    h.add('startContainer', 'exit 3');
    const c = await env.create(h.cfg);
    assertFails(await env.rt.start(c.id), 'start with a failing startContainer hook');
    await sleep(200);
    assert.ok(!h.log().includes('program'), 'the program ran');
    const s = await env.rt.state(c.id);
    assert.ok(s.code !== 0 || s.state?.status === 'stopped', `state after the failed start: ${describe(s)}`);
    assert.ok(await waitFor(() => !pidAlive(c.pid)), 'the container process is still alive');
  },
);

check(
  'hooks.poststart-fails-continues',
  'runtime.md#lifecycle',
  'a failing poststart hook is only a warning: start succeeds, later hooks run, the container runs',
  async (env) => {
    const h = setup(env);
    h.add('poststart', 'exit 3');
    h.mark('poststart', 'after-failed');
    const c = await env.create(h.cfg);
    assertOk(await env.rt.start(c.id), 'start with a failing poststart hook');
    assert.ok(h.log().includes('after-failed'), `log: ${h.log()}`);
    const s = await env.rt.state(c.id);
    assert.equal(s.state?.status, 'running', describe(s));
  },
);

check(
  'hooks.poststop-fails-continues',
  'runtime.md#lifecycle',
  'a failing poststop hook is only a warning: delete succeeds and later hooks run',
  async (env) => {
    const h = setup(env);
    h.add('poststop', 'exit 3');
    h.mark('poststop', 'after-failed');
    const c = await env.started(h.cfg);
    assertOk(await env.rt.kill(c.id, 'KILL'), 'kill');
    await env.waitStatus(c.id, 'stopped');
    assertOk(await env.rt.delete(c.id), 'delete with a failing poststop hook');
    assert.ok(h.log().includes('after-failed'), `log: ${h.log()}`);
    assertFails(await env.rt.state(c.id), 'state after delete');
  },
);

check('hooks.timeout', REF, 'a hook that outlives its timeout is aborted and create fails', async (env) => {
  const h = setup(env);
  h.add('createRuntime', 'exec sleep 30', { timeout: 1 });
  const t0 = Date.now();
  const r = await env.rt.create(env.id(), env.bundle(h.cfg), { timeout: 25000 });
  assertFails(r, 'create with a hook that sleeps past its timeout');
  assert.ok(Date.now() - t0 < 10000, `create took ${Date.now() - t0} ms`);
});

check('hooks.path-relative', REF, 'a relative hook path is an error', async (env) => {
  const h = setup(env);
  h.cfg.hooks.createRuntime = [{ path: 'bin/sh', args: ['sh', '-c', 'true'] }];
  const id = env.id();
  const r = await env.rt.create(id, env.bundle(h.cfg));
  assertFails(r, 'create with hook path bin/sh');
});
