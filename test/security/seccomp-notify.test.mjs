// linux.seccomp with SCMP_ACT_NOTIFY: the runtime hands each container process's listener fd,
// with the container process state, to the seccomp agent at listenerPath (config-linux.md,
// runtime.md "container process state"). The agent here (seccomp-agent.c) answers mkdir by
// making "<path>-<metadata>" instead and fails chmod with ENOMEDIUM, so a container can tell the
// agent got its calls. RUNTIME=/usr/sbin/runc runs the same checks against runc.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { IS_HUSK, SKIP, compileStatic, secEnv, show, waitFor } from './lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NOTIFY_ARCHES = ['SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_X86_64'];

let agentBin = null;
function agentBinary(e) {
  if (agentBin) return agentBin;
  const dir = fs.mkdtempSync('/tmp/husk-test-sec-agent-');
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  agentBin = compileStatic(
    fs.readFileSync(path.join(HERE, 'seccomp-agent.c'), 'utf8'),
    path.join(dir, 'agent'),
  );
  assert.ok(agentBin, 'gcc could not build the seccomp agent (build-essential is needed for this test)');
  void e;
  return agentBin;
}

// Starts an agent for one test; stopped (SIGKILL) by the test's cleanup.
async function startAgent(e) {
  const dir = e.tmp('agent');
  const sock = path.join(dir, 'agent.sock');
  const log = path.join(dir, 'agent.log');
  const child = spawn(agentBinary(e), [sock, log], { stdio: 'ignore' });
  const agent = {
    sock,
    log,
    child,
    exited: new Promise((r) => child.on('exit', r)),
    read: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : ''),
    states: () =>
      agent
        .read()
        .split('\n')
        .filter((l) => l.startsWith('STATE '))
        .map((l) => JSON.parse(l.slice(6))),
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await agent.exited;
      }
    },
  };
  e.defer(() => agent.kill());
  await waitFor(() => agent.read().includes('READY'), 'the seccomp agent to listen');
  return agent;
}

/**
 * @param {any} e
 * @param {any} agent
 * @param {{ args?: string, nnp?: boolean, names?: string[], mutate?: (c: any, b: any) => void }} [opts]
 *   args: the container's `sh -c` script
 */
function notifyBundle(e, agent, { args, nnp = false, names = ['mkdir', 'mkdirat'], mutate } = {}) {
  return e.bundle({
    readonly: false,
    args: ['sh', '-c', args],
    mutate: (c, b) => {
      c.process.noNewPrivileges = nnp;
      c.linux.seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW',
        listenerPath: agent?.sock ?? '/nonexistent',
        listenerMetadata: 'bar',
        architectures: NOTIFY_ARCHES,
        syscalls: [{ names, action: 'SCMP_ACT_NOTIFY' }],
      };
      mutate?.(c, b);
    },
  });
}

const MKDIR = 'mkdir /dev/shm/foo && stat -c ok /dev/shm/foo-bar && ! test -e /dev/shm/foo';

describe('seccomp SCMP_ACT_NOTIFY: the listener goes to the agent at listenerPath', { skip: SKIP }, () => {
  for (const nnp of [false, true]) {
    test(`run: the agent answers the container's mkdir (noNewPrivileges ${nnp})`, async (t) => {
      const e = secEnv(t);
      const agent = await startAgent(e);
      const b = notifyBundle(e, agent, { args: MKDIR, nnp });
      const id = e.id('run');
      const r = e.husk(['run', '--bundle', b.dir, id]);
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /^ok$/m, show(r));
      assert.match(agent.read(), /MKDIR \/dev\/shm\/foo -> 0/);
      const [st] = agent.states();
      assert.ok(st, `the agent got no state: ${agent.read()}`);
      assert.match(agent.read(), /^FD yes$/m, 'the state came without the listener fd');
      assert.equal(typeof st.ociVersion, 'string');
      assert.deepEqual(st.fds, ['seccompFd']);
      assert.equal(st.metadata, 'bar');
      assert.ok(st.pid > 0, `pid ${st.pid}`);
      assert.equal(st.state.id, id);
      assert.equal(st.state.status, 'creating');
      assert.equal(st.state.pid, st.pid);
      assert.equal(fs.realpathSync(st.state.bundle), fs.realpathSync(b.dir));
    });

    test(`exec: a joining process's listener goes to the agent too (noNewPrivileges ${nnp})`, async (t) => {
      const e = secEnv(t);
      const agent = await startAgent(e);
      const b = notifyBundle(e, agent, { args: 'sleep 600', nnp });
      const id = e.id('exec');
      let r = e.husk(['run', '--detach', '--bundle', b.dir, id], { log: path.join(b.dir, 'log') });
      assert.equal(r.code, 0, show(r));
      r = e.husk(['exec', id, 'sh', '-c', MKDIR]);
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /^ok$/m, show(r));
      const states = agent.states();
      assert.equal(states.length, 2, agent.read());
      assert.equal(states[1].state.status, 'running');
      assert.notEqual(states[1].pid, states[0].pid, 'the exec state names the joining process');
      assert.equal(states[1].state.pid, states[0].pid, "the exec state's container pid is the init's");
      r = e.husk(['delete', '--force', id]);
      assert.equal(r.code, 0, show(r));
    });

    test(`run: notifying the calls the runtime itself makes after the load works (noNewPrivileges ${nnp})`, async (t) => {
      const e = secEnv(t);
      const agent = await startAgent(e);
      const b = notifyBundle(e, agent, {
        args: 'true',
        nnp,
        names: ['execve', 'openat', 'open', 'read', 'close', 'select', 'pselect6'],
      });
      const r = e.husk(['run', '--bundle', b.dir, e.id('busy')]);
      assert.equal(r.code, 0, show(r));
      assert.equal(agent.states().length, 1, agent.read());
    });
  }

  test('the agent fails a call: the container sees its errno (chmod → ENOMEDIUM)', async (t) => {
    const e = secEnv(t);
    const agent = await startAgent(e);
    const b = notifyBundle(e, agent, {
      args: 'touch /dev/shm/f && chmod 777 /dev/shm/f',
      names: ['chmod', 'fchmod', 'fchmodat'],
    });
    const r = e.husk(['run', '--bundle', b.dir, e.id('chmod')]);
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stderr + r.stdout, /No medium found/, show(r));
  });

  test('the agent goes away: notified calls fail with ENOSYS instead of blocking', async (t) => {
    const e = secEnv(t);
    const agent = await startAgent(e);
    const b = notifyBundle(e, agent, {
      args: 'while [ ! -e /out/go ]; do sleep 0.05; done; mkdir /dev/shm/foo',
    });
    const run = e.huskAsync(['run', '--bundle', b.dir, e.id('gone')]);
    await waitFor(() => agent.states().length === 1, 'the agent to get the listener');
    await agent.kill();
    fs.writeFileSync(path.join(b.out, 'go'), '');
    const r = await Promise.race([
      run.done,
      new Promise((res) =>
        setTimeout(() => res({ code: null, stderr: 'timed out: the call blocked' }), 15_000),
      ),
    ]);
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stderr, /Function not implemented/, show(r));
  });

  test('startContainer hooks get no extra fd (the listener is not leaked)', async (t) => {
    const e = secEnv(t);
    const agent = await startAgent(e);
    const b = notifyBundle(e, agent, {
      args: 'true',
      mutate: (c) => {
        c.hooks = {
          startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'ls /proc/self/fd > /out/hookfds'] }],
        };
      },
    });
    const r = e.husk(['run', '--bundle', b.dir, e.id('hook')]);
    assert.equal(r.code, 0, show(r));
    // ls holds 0-2 and the directory it lists.
    assert.deepEqual(b.read('hookfds').trim().split('\n').sort(), ['0', '1', '2', '3']);
  });

  /** @type {Array<[string, (c: any, b: any) => void, RegExp]>} */
  const refused = [
    [
      'no agent listening at listenerPath',
      (c, b) => (c.linux.seccomp.listenerPath = path.join(b.dir, 'none.sock')),
      /seccomp agent|connect/i,
    ],
    ['an empty listenerPath', (c) => (c.linux.seccomp.listenerPath = ''), /listenerPath|listener/i],
    [
      'an abstract socket as listenerPath',
      (c) => (c.linux.seccomp.listenerPath = '@husk-test-agent'),
      /listenerPath|listener|agent/i,
    ],
    ['SCMP_ACT_NOTIFY for write', (c) => (c.linux.seccomp.syscalls[0].names = ['write']), /write/],
    [
      'SCMP_ACT_NOTIFY as the default action',
      (c) => (c.linux.seccomp.defaultAction = 'SCMP_ACT_NOTIFY'),
      /default action/,
    ],
  ];
  for (const [what, mutate, message] of refused) {
    test(`refused with a clear error and nothing left: ${what}`, (t) => {
      const e = secEnv(t);
      const b = notifyBundle(e, null, { args: 'true', mutate });
      const id = e.id('bad');
      const r = e.husk(['run', '--bundle', b.dir, id]);
      assert.notEqual(r.code, 0, show(r));
      assert.match(r.stderr, message, show(r));
      e.assertGone(id);
    });
  }

  test(
    'husk: SCMP_ACT_NOTIFY for sendmsg is refused (husk-init hands the listener over with it)',
    { skip: !IS_HUSK && 'husk only: runc uses pidfd_getfd' },
    (t) => {
      const e = secEnv(t);
      const b = notifyBundle(e, null, { args: 'true', names: ['sendmsg'] });
      const id = e.id('sendmsg');
      const r = e.husk(['run', '--bundle', b.dir, id]);
      assert.notEqual(r.code, 0, show(r));
      assert.match(
        r.stderr,
        /\/linux\/seccomp\/syscalls\/0\/names\/0: SCMP_ACT_NOTIFY cannot be used for the sendmsg syscall/,
        show(r),
      );
      e.assertGone(id);
    },
  );

  test('listenerPath without any SCMP_ACT_NOTIFY rule runs (as runc)', (t) => {
    const e = secEnv(t);
    const b = notifyBundle(e, null, {
      args: 'mkdir /dev/shm/foo && test -d /dev/shm/foo',
      mutate: (c) => (c.linux.seccomp.syscalls = []),
    });
    const r = e.husk(['run', '--bundle', b.dir, e.id('nolistener')]);
    assert.equal(r.code, 0, show(r));
  });
});
