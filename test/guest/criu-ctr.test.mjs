// `ctr task checkpoint` and `ctr container restore --live` (issue 21) through containerd 1.6's
// io.containerd.runc.v2 shim with the runtime under test as the shim's binary (--runc-binary):
// husk, or with RUNTIME=/usr/sbin/runc the reference side by side. A private containerd (its own
// root, state, socket and config), a busybox image imported from examples/busybox/rootfs, a
// counter task whose count must go on after restore (not start again from 1), with `--exit` and
// leaving the task running. Runs where `criu check` passes (the Debian 12 guest of
// scripts/guest/); skipped with the reason elsewhere. ctr 1.6 has no `run --checkpoint` and no
// `task start --checkpoint`: the checkpoint is an image in containerd's content store, which
// `ctr container restore --live ID REF` turns back into a container and a restored task.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HUSK, ROOTFS, SKIP as NOT_ROOT } from '../lib/harness.mjs';
import {
  describeResult,
  privateContainerdConfig,
  removeNewCgroups,
  run,
  startDaemon,
  stopDaemon,
  unmountUnder,
  waitFor,
} from '../engines/lib.mjs';
import { makeOciArchive } from '../engines/oci-archive.mjs';
import { criuWhyNot } from './criu-check.mjs';

const RUNTIME = process.env.RUNTIME ? path.resolve(process.env.RUNTIME) : HUSK;
const NAME = path.basename(RUNTIME);
const NS = 'husk-ctrckpt';
const IMAGE_NAME = 'docker.io/library/husk-ctrckpt';
// ctr's fifos of a restored task go to its default dir (container restore has no --fifo-dir).
const HOST_PATHS = ['/run/containerd'];

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim();
}

function whyNot() {
  if (NOT_ROOT) return NOT_ROOT;
  if (!fs.existsSync(RUNTIME)) return `runtime ${RUNTIME} not found`;
  if (!onPath('containerd') || !onPath('ctr')) return 'no containerd or ctr on PATH (install containerd)';
  return criuWhyNot();
}
const SKIP = whyNot();

const COUNTER = 'i=0; while :; do i=$((i+1)); echo $i > /count; sleep 0.2; done';

describe(`ctr task checkpoint and container restore (${NAME})`, { skip: SKIP }, () => {
  /** @type {string} */ let dir;
  /** @type {string} */ let sock;
  /** @type {import('../engines/lib.mjs').Daemon | null} */ let daemon = null;
  /** @type {string} */ let image;
  /** @type {Set<string>} */ let hostBefore;
  let seq = 0;

  const ctr = (/** @type {string[]} */ args, opts = {}) =>
    run('ctr', ['-a', sock, '-n', NS, ...args], { timeout: 240_000, ...opts });
  const ok = async (/** @type {string[]} */ args, what = args.slice(0, 2).join(' ')) => {
    const r = await ctr(args);
    assert.equal(r.code, 0, `ctr ${what}:\n${describeResult(r)}${diagnostics()}`);
    return r;
  };
  const countFile = (/** @type {string} */ id) =>
    path.join(dir, 'state', 'io.containerd.runtime.v2.task', NS, id, 'rootfs', 'count');
  const count = (/** @type {string} */ id) => {
    try {
      return Number(fs.readFileSync(countFile(id), 'utf8').trim()) || 0;
    } catch {
      return 0;
    }
  };
  const countPast = (/** @type {string} */ id, /** @type {number} */ n, /** @type {string} */ what) =>
    waitFor(() => count(id) > n && count(id), { timeout: 120_000, what: `${what}: count past ${n}` });

  // criu's logs and the runtime's --log lines, for a failure's message: the shim keeps them in
  // the task's bundle (work dir criu-work/, log.json) while it exists.
  function diagnostics() {
    const out = [];
    const tasks = path.join(dir, 'state', 'io.containerd.runtime.v2.task', NS);
    const walk = (/** @type {string} */ d, depth = 0) => {
      let names = [];
      try {
        names = fs.readdirSync(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const n of names) {
        const p = path.join(d, n.name);
        if (n.isDirectory() && n.name !== 'rootfs' && depth < 4) walk(p, depth + 1);
        else if (/^(criu-)?(dump|restore)\.log$|^log\.json$/.test(n.name)) {
          const lines = fs.readFileSync(p, 'utf8').split('\n');
          const errs = lines.filter((l) => /Error|error|Warn/.test(l)).slice(-15);
          out.push(`--- ${p}:\n${errs.join('\n')}\n--- last lines:\n${lines.slice(-6).join('\n')}`);
        }
      }
    };
    walk(tasks);
    walk(path.join(dir, 'work'));
    try {
      out.push(
        `--- containerd.log (tail):\n${fs.readFileSync(path.join(dir, 'containerd.log'), 'utf8').split('\n').slice(-25).join('\n')}`,
      );
    } catch {
      /* none yet */
    }
    return out.length ? `\n${out.join('\n')}` : '';
  }

  before(async () => {
    hostBefore = new Set(HOST_PATHS.filter((p) => fs.existsSync(p)));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-ctrckpt-'));
    sock = path.join(dir, 'containerd.sock');
    const cfg = path.join(dir, 'config.toml');
    fs.writeFileSync(cfg, privateContainerdConfig(dir, sock));
    daemon = startDaemon('containerd', ['--config', cfg], path.join(dir, 'containerd.log'));
    const d = daemon;
    await waitFor(
      async () => {
        if (d.child.exitCode !== null) throw new Error(`containerd exited:\n${diagnostics()}`);
        return (await run('ctr', ['-a', sock, 'version'], { timeout: 10_000 })).code === 0;
      },
      { timeout: 120_000, what: 'containerd' },
    );
    const work = fs.mkdtempSync(path.join(dir, 'oci-'));
    const out = path.join(dir, 'oci.tar');
    image = makeOciArchive({ rootfs: ROOTFS, work, name: IMAGE_NAME, tag: 'test', out }).ref;
    fs.rmSync(work, { recursive: true, force: true });
    await ok(['images', 'import', out], 'images import');
  });

  after(async () => {
    if (sock && daemon) {
      const tasks = await ctr(['task', 'ls', '-q']);
      for (const id of tasks.stdout.split('\n').filter(Boolean)) await ctr(['task', 'delete', '-f', id]);
      const cs = await ctr(['container', 'ls', '-q']);
      for (const id of cs.stdout.split('\n').filter(Boolean)) await ctr(['container', 'delete', id]);
      const imgs = await ctr(['images', 'ls', '-q']);
      for (const ref of imgs.stdout.split('\n').filter(Boolean)) await ctr(['images', 'rm', '--sync', ref]);
      await ctr(['content', 'prune', 'references']).catch(() => {});
    }
    await stopDaemon(daemon);
    if (dir) {
      unmountUnder(dir);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    for (const p of HOST_PATHS) if (!hostBefore?.has(p)) fs.rmSync(p, { recursive: true, force: true });
    // The tasks' cgroups are /<namespace>/<id> in every hierarchy: the namespace is ours alone.
    const left = removeNewCgroups(new Set(), [], [NS]);
    if (left.length) console.error(`criu-ctr: cgroups left behind: ${left.join(' ')}`);
  });

  async function runCounter() {
    const id = `ckpt-${process.pid}-${++seq}`;
    // prettier-ignore
    await ok([
      'run', '-d',
      '--runc-binary', RUNTIME,
      '--runc-root', path.join(dir, 'runtime-root'),
      '--fifo-dir', path.join(dir, 'fifo'),
      image, id, 'sh', '-c', COUNTER,
    ], 'run -d');
    await countPast(id, 2, 'before checkpoint');
    return id;
  }

  // Checkpoints `id` into a checkpoint image; returns its ref and the count at that moment.
  async function checkpoint(/** @type {string} */ id, /** @type {string[]} */ flags) {
    const t0 = Date.now();
    const r = await ok(['task', 'checkpoint', ...flags, id], `task checkpoint ${flags.join(' ')}`);
    const ms = Date.now() - t0;
    const ref = r.stdout.trim().split('\n').pop() ?? '';
    assert.match(
      ref,
      new RegExp(`checkpoint/${id}`),
      `a checkpoint image ref on stdout: ${describeResult(r)}`,
    );
    return { ref, at: count(id), ms };
  }

  async function removeContainer(/** @type {string} */ id) {
    await ctr(['task', 'kill', '-s', 'SIGKILL', id]);
    await ctr(['task', 'delete', '-f', id]);
    await ok(['container', 'delete', id], 'container delete');
  }

  // `ctr container restore` waits for the task once started: it runs alongside until the task is
  // killed; the count's going on is what tells the restore worked.
  async function restoreAndCheck(
    /** @type {string} */ id,
    /** @type {string} */ ref,
    /** @type {number} */ at,
  ) {
    const t0 = Date.now();
    const pending = ctr(['container', 'restore', '--live', id, ref]);
    let done = null;
    pending.then((r) => (done = r));
    // A failed restore ends the wait at once (waitFor takes a throw for "not yet").
    const first = await waitFor(() => count(id) || (done && done.code !== 0) || null, {
      timeout: 180_000,
      what: 'a count after restore',
    });
    if (first === true) assert.fail(`ctr container restore --live:\n${describeResult(done)}${diagnostics()}`);
    const ms = Date.now() - t0;
    assert.ok(first >= at, `the restored count goes on from ${at}, not from 1: first seen ${first}`);
    const later = await countPast(id, first, 'after restore');
    assert.ok(later > first);
    const status = await ok(['task', 'ls'], 'task ls');
    assert.match(status.stdout, new RegExp(`^${id}\\s+\\d+\\s+RUNNING`, 'm'), describeResult(status));
    await removeContainer(id);
    await pending;
    return ms;
  }

  // ctr 1.6 restores only a container checkpoint (its index names the image): a `task
  // checkpoint` image has no ctr command to restore it (no `run --checkpoint`, no `task start
  // --checkpoint`), so these two check the checkpoint itself and the task's state after it.
  test('task checkpoint --exit: a checkpoint image, and the task is stopped', async (t) => {
    const id = await runCounter();
    const c = await checkpoint(id, ['--exit']);
    const st = await ctr(['task', 'ls']);
    assert.doesNotMatch(
      st.stdout,
      new RegExp(`^${id}\\s+\\d+\\s+RUNNING`, 'm'),
      `stopped: ${describeResult(st)}`,
    );
    const imgs = await ok(['images', 'ls', '-q'], 'images ls');
    assert.ok(imgs.stdout.split('\n').includes(c.ref), `${c.ref} in ${imgs.stdout}`);
    await ctr(['task', 'delete', '-f', id]);
    await ok(['container', 'delete', id], 'container delete');
    t.diagnostic(`${NAME}: task checkpoint --exit ${c.ms} ms`);
  });

  test('task checkpoint leaving the task running: it runs on and counts on', async (t) => {
    const id = await runCounter();
    const c = await checkpoint(id, []);
    await countPast(id, c.at + 2, 'after checkpoint');
    const st = await ok(['task', 'ls'], 'task ls');
    assert.match(st.stdout, new RegExp(`^${id}\\s+\\d+\\s+RUNNING`, 'm'), describeResult(st));
    await removeContainer(id);
    t.diagnostic(`${NAME}: task checkpoint (left running) ${c.ms} ms`);
  });

  // The shim's restore passes -no-subreaper with one dash (go-runc), as Go's flag package reads it.
  test('container checkpoint --task, then container restore --live: the count goes on', async (t) => {
    const id = await runCounter();
    const ref = `${IMAGE_NAME}-checkpoint:${id}`;
    const t0 = Date.now();
    await ok(['container', 'checkpoint', '--task', id, ref], 'container checkpoint --task');
    const ms0 = Date.now() - t0;
    const at = count(id);
    await removeContainer(id);
    const ms = await restoreAndCheck(id, ref, at);
    t.diagnostic(`${NAME}: container checkpoint --task ${ms0} ms, restore (to the first count) ${ms} ms`);
  });
});
