// src/runtime/launch/: the one handshake of create, exec and run, against a fake native (a
// scripted sync socket, a launcher that starts nothing): stages out of order, an init that dies
// at each stage, a message that never comes, an error carrying an op index. No root, no process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './helpers.mjs';

const { launch, stageTable } = load('runtime/launch/index.js');
const { op, MSG, STAGE } = load('plan/ops.js');
const { Undo } = load('runtime/undo.js');

const FIRST = 100;
const INIT = 200;
const FD = 7;

// A create-like plan: every op that talks, with silent ones between them.
function plan({ notify = false } = {}) {
  return [
    op('OOM_SCORE_ADJ', '/process/oomScoreAdj', {}, { value: '0' }),
    op('SYNC', '/linux/cgroupsPath', {}, { stage: STAGE.CGROUP }),
    op('USERNS', '/linux/uidMappings', {}),
    op('FORK_INIT', '/linux/namespaces', {}),
    { op: 'MOUNT', from: '/mounts/3', show: {}, fields: [] },
    op('SYNC', '/hooks/createRuntime', {}, { stage: STAGE.CREATE_RUNTIME }),
    op('FETCH_STATE', '/hooks/createContainer', {}, { stage: STAGE.CREATE_CONTAINER }),
    op('SECCOMP', '/linux/seccomp', {}, { flags: 8, program: new Uint8Array() }),
    op(notify ? 'NOTIFY' : 'FETCH_STATE', '/process', {}, { stage: STAGE.READY }),
    op('EXEC', '/process/args', {}, { argv: ['x'], env: [] }),
  ];
}

// The messages a well-behaved init sends for plan().
const GOOD = [
  { type: MSG.SYNC, stage: STAGE.CGROUP, op: 1 },
  { type: MSG.SYNC, stage: STAGE.USERMAP, op: 2 },
  { type: MSG.PID, stage: 0, op: 3, pid: INIT },
  { type: MSG.SYNC, stage: STAGE.CREATE_RUNTIME, op: 5 },
  { type: MSG.SYNC, stage: STAGE.CREATE_CONTAINER, op: 6 },
  { type: MSG.SECCOMP_FD, stage: 0, op: 7, fd: 42 },
  { type: MSG.SYNC, stage: STAGE.READY, op: 8 },
];

const msg = (m) => ({ errno: 0, pid: 0, text: '', ...m });

// The fake: `script` is what recv gives, in order (a message, null for an init gone, or an
// Error to throw); everything the handshake does to the socket and the processes is recorded.
function fake(script) {
  const did = [];
  const io = {
    recv: async (fd, ms) => {
      assert.equal(fd, FD);
      assert.ok(ms > 0);
      if (!script.length) throw Object.assign(new Error('script ran out'), { errno: 110 });
      const next = script.shift();
      if (next instanceof Error) throw next;
      return next && msg(next);
    },
    reply: (fd, type) => did.push(`reply ${type}`),
    sendData: (fd, data) => did.push(`data ${JSON.parse(data.toString()).status}`),
    close: (fd) => did.push(`close ${fd}`),
    kill: (pid) => did.push(`kill ${pid}`),
  };
  const launcher = {
    spawn: async () => ({ pid: FIRST, syncFd: FD }),
    reap: (pid) => did.push(`reap ${pid}`),
  };
  const ctx = { launcher, log: { warn: (w) => did.push(`warn ${w}`), debug: () => {} }, inProcess: true };
  return { did, io, ctx };
}

/** @param {Record<string, any>} [over] */
function request(io, over = {}) {
  /** @type {string[]} */
  const seen = [];
  const undo = new Undo();
  undo.push('remove state directory', () => seen.push('undo state'));
  /** @type {Record<string, any>} */
  const req = {
    what: 'create',
    ops: plan(),
    spawn: { initPath: '/x', plan: Buffer.alloc(0) },
    undo,
    io,
    stages: {
      cgroup: (pid) => seen.push(`cgroup ${pid}`),
      usermap: (pid) => seen.push(`usermap ${pid}`),
      createRuntime: (pid) => seen.push(`createRuntime ${pid}`),
      pid: (pid) => seen.push(`pid ${pid}`),
      seccomp: (fd, pid) => seen.push(`seccomp ${fd} ${pid}`),
      ready: (pid) => seen.push(`ready ${pid}`),
      state: (kind, pid) => ({ status: kind === 'ready' ? 'created' : 'creating', pid }),
    },
    ...over,
  };
  return { req, seen };
}

test('the stage table is read off the plan: talking ops only, up to the ready stage', () => {
  const t = stageTable(plan());
  assert.deepEqual(
    t.map((s) => `${s.kind}@${s.op}`),
    ['cgroup@1', 'usermap@2', 'pid@3', 'createRuntime@5', 'createContainer@6', 'seccomp@7', 'ready@8'],
  );
  assert.equal(t.find((s) => s.kind === 'createContainer').withState, true);
  // A filter without a listener says nothing; a plan without a ready stage is a plan bug.
  const quiet = plan();
  quiet[7] = op('SECCOMP', '/linux/seccomp', {}, { flags: 0, program: new Uint8Array() });
  assert.ok(!stageTable(quiet).some((s) => s.kind === 'seccomp'));
  assert.throws(() => stageTable(plan().slice(0, 8)), /no ready stage/);
});

test('a good init: each stage served in order with the pid of its sender, then kept', async () => {
  const { did, io, ctx } = fake([...GOOD]);
  const { req, seen } = request(io);
  const r = await launch(ctx, req);
  assert.equal(r.pid, INIT);
  assert.equal(r.syncFd, -1);
  assert.deepEqual(seen, [
    `cgroup ${FIRST}`,
    `usermap ${FIRST}`,
    `pid ${INIT}`,
    `createRuntime ${INIT}`,
    `seccomp 42 ${INIT}`,
    `ready ${INIT}`,
  ]);
  const ack = `reply ${MSG.ACK}`;
  // cgroup, usermap, createRuntime, createContainer (+ state), seccomp, ready (+ state after the
  // first process is reaped); nothing killed, the undo cleared, the socket closed.
  assert.deepEqual(did, [
    ack,
    ack,
    ack,
    ack,
    'data creating',
    ack,
    ack,
    `reap ${FIRST}`,
    'data created',
    `close ${FD}`,
  ]);
  req.undo.run(() => {});
  assert.deepEqual(
    seen.filter((s) => s.startsWith('undo')),
    [],
  );
});

test('a NOTIFY ready stage right after the fork is answered at the pid, not again when it comes', async () => {
  const ops = [
    ...plan().slice(0, 4),
    op('NOTIFY', '/process', {}, { stage: STAGE.READY }),
    op('EXEC', '/p', {}, { argv: ['x'], env: [] }),
  ];
  const { did, io, ctx } = fake([GOOD[0], GOOD[1], GOOD[2], { ...GOOD[6], op: 4 }]);
  const { req, seen } = request(io, { ops, keepSync: true });
  const r = await launch(ctx, req);
  assert.equal(r.syncFd, FD, 'kept for run');
  const ack = `reply ${MSG.ACK}`;
  assert.deepEqual(did, [ack, ack, ack, `reap ${FIRST}`]);
  assert.deepEqual(seen.slice(-2), [`pid ${INIT}`, `ready ${INIT}`]);
  // Anywhere else it is answered when it comes, or the init would wait for ever.
  const t = stageTable(plan({ notify: true }));
  assert.equal(t.at(-1).answeredEarly, false);
});

// After a failure: the process talking killed and reaped (with those that exited before it),
// the caller's undo run after the kill, the socket closed.
function assertCleanedUp(did, seen, talking, exited = []) {
  assert.ok(did.includes(`kill ${talking}`), `killed ${talking}: ${did}`);
  for (const p of [talking, ...exited]) assert.ok(did.includes(`reap ${p}`), `reaped ${p}: ${did}`);
  assert.ok(seen.includes('undo state'), 'the caller undo ran');
  assert.equal(did.at(-1), `close ${FD}`);
}

test('an init that dies at each stage: a clear error, killed, reaped, undone', async () => {
  for (let k = 0; k < GOOD.length; k++) {
    const { did, io, ctx } = fake([...GOOD.slice(0, k), null]);
    const { req, seen } = request(io);
    await assert.rejects(launch(ctx, req), /container init exited during create without saying why/);
    assertCleanedUp(did, seen, k > 2 ? INIT : FIRST, k > 2 ? [FIRST] : []);
  }
  const { io, ctx } = fake([null]);
  const { req } = request(io, { what: 'exec' });
  await assert.rejects(launch(ctx, req), /^HuskError: exec: the process exited before it was set up$/);
});

test('stages out of order are refused, not served', async () => {
  // ready before the pid; a pid twice; a stage from another op than the plan's.
  const cases = [
    [GOOD[0], GOOD[1], GOOD[6]],
    [GOOD[0], GOOD[1], GOOD[2], GOOD[2]],
    [{ ...GOOD[0], op: 2 }],
    [GOOD[0], GOOD[1], GOOD[2], GOOD[3], GOOD[5]],
  ];
  for (const script of cases) {
    const { did, io, ctx } = fake([...script]);
    const { req, seen } = request(io);
    await assert.rejects(
      launch(ctx, req),
      /^HuskError: sync: the container init sent .* where .* was expected$/,
    );
    const talking = script.some((m) => m.type === MSG.PID) ? INIT : FIRST;
    assertCleanedUp(did, seen, talking);
    assert.ok(!seen.includes(`ready ${talking}`), 'the ready stage out of turn was not served');
  }
  // A listener that came out of turn is closed, not leaked.
  const { did, io, ctx } = fake([GOOD[5]]);
  await assert.rejects(
    launch(ctx, request(io).req),
    /a seccomp listener \(op 7\) where stage cgroup \(op 1\)/,
  );
  assert.ok(did.includes('close 42'));
});

test('a message that never comes: the deadline ends it, with the caller hint', async () => {
  process.env.HUSK_INTERNAL_SYNC_TIMEOUT_MS = '1500';
  try {
    const { did, io, ctx } = fake([GOOD[0], GOOD[1], GOOD[2]]);
    const { req, seen } = request(io, { timedOut: () => ': its cgroup is frozen (/x/freezer.state)' });
    const pids = [];
    req.beforeKill = (p) => pids.push(...p);
    await assert.rejects(
      launch(ctx, req),
      /^HuskError: container init did not answer within 1\.5 s: its cgroup is frozen \(\/x\/freezer\.state\); create gave up and killed it$/,
    );
    assert.deepEqual(pids, [INIT], 'the frozen cgroup is handled before the kill');
    assertCleanedUp(did, seen, INIT, [FIRST]);
  } finally {
    delete process.env.HUSK_INTERNAL_SYNC_TIMEOUT_MS;
  }
});

test("an error names the config entry of the op it carries (exec's prefixed)", async () => {
  const err = {
    type: MSG.ERROR,
    stage: 0,
    op: 4,
    errno: 2,
    text: 'mount proc on /proc',
    errnoText: 'ENOENT',
  };
  for (const [what, want] of [
    ['create', 'HuskError: /mounts/3: mount proc on /proc: ENOENT'],
    ['exec', 'HuskError: exec: /mounts/3: mount proc on /proc: ENOENT'],
  ]) {
    const { did, io, ctx } = fake([GOOD[0], GOOD[1], GOOD[2], err]);
    const { req, seen } = request(io, { what });
    await assert.rejects(launch(ctx, req), (e) => String(e) === want);
    assertCleanedUp(did, seen, INIT, [FIRST]);
  }
  // An index past the plan is still said, as an op number.
  const { io, ctx } = fake([{ ...err, op: 99, errno: 0 }]);
  await assert.rejects(launch(ctx, request(io).req), /^HuskError: op 99: mount proc on \/proc$/);
});

test('a spawn that fails: the caller words, the undo run, nothing to kill', async () => {
  const { did, io, ctx } = fake([]);
  ctx.launcher.spawn = async () => {
    throw new Error('connect to the console socket: ENOENT');
  };
  const { req, seen } = request(io, { spawnFailed: (e) => new Error(`--console-socket /s: ${e.message}`) });
  await assert.rejects(
    launch(ctx, req),
    /^Error: --console-socket \/s: connect to the console socket: ENOENT$/,
  );
  assert.deepEqual(seen, ['undo state']);
  assert.ok(!did.some((d) => d.startsWith('kill')));
  // Work done alongside that fails: raised once the init exists, which is killed too.
  const f = fake([]);
  const r = request(f.io, {
    alongside: () => {
      throw new Error('cgroup: EACCES');
    },
  });
  await assert.rejects(launch(f.ctx, r.req), /cgroup: EACCES/);
  assertCleanedUp(f.did, r.seen, FIRST);
});

test('launch/ takes of the rest of the runtime only the launcher, context and undo types', async () => {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const { repoRoot } = await import('./helpers.mjs');
  const dir = path.join(repoRoot, 'src', 'runtime', 'launch');
  for (const f of fs.readdirSync(dir)) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    for (const m of text.matchAll(/from '\.\.\/([^.][^']*)'/g))
      assert.ok(['launcher', 'context', 'undo'].includes(m[1]), `${f} imports ../${m[1]}`);
  }
});
