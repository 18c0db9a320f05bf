// exec's policy lives in runtime/exec: the CLI (src/cli/exec.ts, also what the server runs) and
// the library (src/lib.ts) only turn their input into overrides, so for the same overrides both
// hand husk-init the same plan. A fake container (this test's own process as its init, in a
// private --root) and a launcher that keeps the plan and starts nothing: no root, no container.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { load } from './helpers.mjs';

const { Runtime } = load('lib.js');
const { makeContext } = load('runtime/context.js');
const { execVerb } = load('cli/exec.js');
const { fastParse, joinDashValues } = load('cli/parse.js');
const { VERBS } = load('cli/verbs.js');
const { startTimeOf } = load('state/status.js');
const { OP } = load('plan/ops.js');

// The plan buffer as a list of op codes and bodies (the layout of src/plan/encode.ts).
function decodeOps(buf) {
  const ops = [];
  for (let at = 16, i = 0; i < buf.readUInt32LE(12); i++) {
    const code = buf.readUInt32LE(at);
    const len = buf.readUInt32LE(at + 4);
    ops.push(`${code}:${buf.subarray(at + 8, at + 8 + len).toString('hex')}`);
    at += 8 + len;
  }
  return ops;
}

const ID = 'same-plan';
const SPEC = {
  ociVersion: '1.0.2',
  root: { path: '/nonexistent-rootfs' },
  process: {
    args: ['sh'],
    cwd: '/',
    env: ['PATH=/bin'],
    user: { uid: 0, gid: 0 },
    capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] },
    rlimits: [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 100 }],
    noNewPrivileges: true,
  },
  linux: {
    namespaces: [{ type: 'mount' }, { type: 'uts' }],
    // The container's filter: the library once forgot it (the security issue).
    seccomp: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] },
  },
};

function fakeContainer(t) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-unit-exec-plan-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  // The seccomp cache of a user without a home goes in the test's directory.
  process.env.XDG_CACHE_HOME = path.join(root, 'cache');
  const ctx = makeContext({ root, rootless: false });
  const lock = ctx.store.claim(ID);
  ctx.store.write({
    ociVersion: '1.0.2',
    id: ID,
    pid: process.pid,
    startTime: startTimeOf(process.pid),
    bundle: root,
    rootfs: '/nonexistent-rootfs',
    created: new Date().toISOString(),
    owner: '',
    cgroupDirs: [],
    freezerDir: null,
    namespaces: { mount: '', uts: '' },
    config: 'config.json',
  });
  ctx.store.writeConfig(ID, SPEC);
  lock.release();
  return root;
}

// A launcher that keeps what it was asked to start and fails the spawn.
function keeper() {
  const plans = [];
  return {
    plans,
    launcher: {
      spawn: async (req) => {
        plans.push(req.plan);
        throw new Error('not started (test)');
      },
      reap: () => {},
      wait: async () => ({ code: 0, signal: null }),
      forwardSignals: async () => () => {},
      relaysTerminal: true,
    },
  };
}

async function viaLibrary(root, opts) {
  const k = keeper();
  const rt = new Runtime({ root, rootless: false });
  rt.ctx.launcher = k.launcher;
  await assert.rejects(rt.exec(ID, opts), /not started \(test\)/);
  return k.plans;
}

test('the CLI and the library build the same exec plan for the same overrides', async (t) => {
  const root = fakeContainer(t);
  const cases = [
    { cli: [], lib: { overrides: { args: ['ls'], terminal: false, env: [] } }, cmd: ['ls'] },
    {
      cli: ['-e', 'A=1', '--cwd', '/tmp', '-u', '5:6', '--cap', 'CAP_CHOWN', '--no-new-privs', '-g', '7'],
      lib: {
        overrides: {
          args: ['id', '-u'],
          terminal: false,
          env: ['A=1'],
          cwd: '/tmp',
          uid: 5,
          gid: 6,
          caps: ['CAP_CHOWN'],
          noNewPrivileges: true,
          additionalGids: [7],
        },
      },
      cmd: ['id', '-u'],
    },
  ];
  for (const c of cases) {
    // The command comes after the id on the command line.
    const k = keeper();
    const ctx = makeContext({ root, rootless: false, launcher: k.launcher });
    const parsed = fastParse(joinDashValues(['exec', ...c.cli, ID, ...c.cmd], VERBS), VERBS, true);
    await assert.rejects(execVerb.handler(parsed.args, ctx), /not started \(test\)/);
    const lib = await viaLibrary(root, c.lib);
    assert.equal(k.plans.length, 1);
    assert.equal(lib.length, 1);
    assert.deepEqual(decodeOps(k.plans[0]), decodeOps(lib[0]), `same plan for ${c.cli.join(' ')}`);
  }
  // Both carry the container's seccomp filter, compiled: a SECCOMP op with a program in it.
  const k = keeper();
  const rt = new Runtime({ root, rootless: false });
  rt.ctx.launcher = k.launcher;
  await assert.rejects(rt.exec(ID, { overrides: { args: ['ls'] } }), /not started/);
  const sc = decodeOps(k.plans[0]).find((o) => o.startsWith(`${OP.SECCOMP}:`));
  assert.ok(sc && sc.length > 100, 'the container seccomp filter is in the library exec plan');
});

test('with a whole process only the labels of the overrides count, for both', async (t) => {
  const root = fakeContainer(t);
  const proc = { args: ['cat'], cwd: '/', user: { uid: 1, gid: 1 }, env: [] };
  const file = path.join(root, 'process.json');
  fs.writeFileSync(file, JSON.stringify(proc));
  const k = keeper();
  const ctx = makeContext({ root, rootless: false, launcher: k.launcher });
  const parsed = fastParse(
    joinDashValues(['exec', '--process', file, '-u', '9', '--cwd', '/x', ID], VERBS),
    VERBS,
    true,
  );
  await assert.rejects(execVerb.handler(parsed.args, ctx), /not started \(test\)/);
  const lib = await viaLibrary(root, { process: proc, overrides: { args: [], uid: 9, cwd: '/x' } });
  const plain = await viaLibrary(root, { process: proc });
  assert.deepEqual(decodeOps(k.plans[0]), decodeOps(lib[0]));
  assert.deepEqual(decodeOps(lib[0]), decodeOps(plain[0]), 'uid and cwd beside a process are ignored');
});
