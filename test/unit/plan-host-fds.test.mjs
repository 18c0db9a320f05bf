// CVE-2016-9962 class: a process the container can see (one in its pid namespace) must hold no
// handle on the host. In every exec plan the fork into the pid namespace comes after the last
// op that opens or uses a host fd (host procfs, cgroup directory, console socket), with SEAL
// (which closes them and leaves the host cwd) right before it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, hostV2, hostHybrid, names } from './helpers.mjs';

const { buildExecPlan } = load('plan/exec.js');
const { splitCgroupDirs } = load('plan/cgroup-join.js');

// Ops that work through the host procfs handle, a host path or the console socket.
const NEEDS_HOST = new Set(['OOM_SCORE_ADJ', 'JOIN_CGROUP', 'CGROUP_INTO', 'SETNS', 'PROC_WRITE', 'CONSOLE', 'SYSCTL']);

function assertSealedBeforePidFork(ops, what) {
  const n = names(ops);
  const fork = n.lastIndexOf('FORK_INIT');
  assert.ok(fork >= 0, `${what}: no fork: ${n.join(' ')}`);
  assert.equal(n[fork - 1], 'SEAL', `${what}: the pid-namespace fork is not right after SEAL: ${n.join(' ')}`);
  const late = n.slice(fork).filter((x) => NEEDS_HOST.has(x));
  assert.deepEqual(late, [], `${what}: host-fd ops after the fork into the pid namespace: ${n.join(' ')}`);
  assert.equal(n.filter((x) => x === 'SEAL').length, 1, `${what}: one SEAL`);
}

const lsmHost = (h) => ({ ...h, apparmor: true, selinux: true });

test('exec plans: the fork into the pid namespace comes after every op that needs a host fd', () => {
  const cases = [];
  for (const [hostName, host, unified, dirs] of [
    ['v2', hostV2(), '/sys/fs/cgroup', ['/sys/fs/cgroup/husk/c1']],
    [
      'hybrid',
      hostHybrid(),
      '/sys/fs/cgroup/unified',
      ['/sys/fs/cgroup/memory/husk/c1', '/sys/fs/cgroup/unified/husk/c1'],
    ],
  ])
    for (const userns of [false, true])
      for (const terminal of [false, true])
        for (const selfJoin of [false, true])
          for (const lsm of [false, true])
            cases.push({
              what: `${hostName} userns=${userns} terminal=${terminal} selfJoin=${selfJoin} lsm=${lsm}`,
              host: lsm ? lsmHost(host) : host,
              input: {
                initPid: 42,
                namespaces: [...(userns ? ['user'] : []), 'ipc', 'uts', 'network', 'pid', 'cgroup', 'mount'],
                joinCgroups: !selfJoin,
                cgroupJoin: selfJoin ? splitCgroupDirs(dirs, unified) : undefined,
                process: {
                  args: ['true'],
                  cwd: '/',
                  user: { uid: 0, gid: 0 },
                  terminal,
                  oomScoreAdj: 100,
                  ...(lsm ? { apparmorProfile: 'p', selinuxLabel: 'l' } : {}),
                },
                consoleSocket: true,
              },
            });
  for (const c of cases) {
    const plan = buildExecPlan(c.input, c.host);
    assertSealedBeforePidFork(plan.ops, c.what);
    const n = names(plan.ops);
    const fork = n.lastIndexOf('FORK_INIT');
    // What the seal must not take away from what follows: the terminal in its own session.
    if (c.input.process.terminal) assert.deepEqual(n.slice(fork + 1, fork + 3), ['SETSID', 'CTTY'], c.what);
    // Made in its cgroup2 directory by a first fork, before any namespace: two forks.
    const into = n.includes('CGROUP_INTO');
    assert.equal(n.filter((x) => x === 'FORK_INIT').length, into ? 2 : 1, `${c.what}: ${n.join(' ')}`);
    if (into) assert.ok(n.indexOf('FORK_INIT') < n.indexOf('SETNS'), `${c.what}: cgroup fork first`);
    // Every namespace, the cgroup one included, is joined before the pid-namespace fork.
    assert.equal(n.slice(0, fork).filter((x) => x === 'SETNS').length, c.input.namespaces.length, c.what);
  }
});
