// What the guest's criu tests share: the runtime under test (RUNTIME, default husk), whether criu
// works here, a counter bundle, and the runtime run with real pipes as its stdio.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { HUSK, SKIP as NOT_ROOT, makeBundle, show, waitFor } from '../lib/harness.mjs';
import { criuWhyNot } from './criu-check.mjs';

export const RUNTIME = process.env.RUNTIME ? path.resolve(process.env.RUNTIME) : HUSK;
export const NAME = path.basename(RUNTIME);

function whyNot() {
  if (NOT_ROOT) return NOT_ROOT;
  if (!fs.existsSync(RUNTIME)) return `runtime ${RUNTIME} not found`;
  return criuWhyNot();
}
export const SKIP = whyNot();

export const COUNTER = 'i=0; while :; do i=$((i+1)); echo $i > /count; sleep 0.2; done';

export function counterBundle(t, mutate) {
  return makeBundle(
    t,
    (c, b) => {
      c.root = { path: b.rootfs, readonly: false };
      mutate?.(c, b);
    },
    { copyRootfs: true, args: ['sh', '-c', COUNTER] },
  );
}

// criu's log of a failed step, for the assertion message: runc and husk name it, neither prints it.
export function criuLog(args) {
  const i = args.indexOf('--work-path') >= 0 ? args.indexOf('--work-path') : args.indexOf('--image-path');
  if (i < 0) return '';
  const dir = args[i + 1];
  for (const f of ['dump.log', 'restore.log']) {
    try {
      const lines = fs.readFileSync(path.join(dir, f), 'utf8').split('\n');
      const errs = lines.filter((l) => /Error|Warn/.test(l)).slice(-12);
      return `\n--- ${f} (errors and warnings):\n${errs.join('\n')}\n--- last lines:\n${lines.slice(-8).join('\n')}`;
    } catch {
      /* not this one */
    }
  }
  return '';
}

// The runtime with real pipes on all three fds, as conmon and the containerd shim run it (Node's
// 'pipe' stdio is a socketpair, which criu refuses without --ext-unix-sk): a shell pipeline, its
// reader left in the background so that a detached container may keep the write end. The reader
// takes the pipe through fd 4: a background command's stdin is /dev/null in a shell without job
// control, and a cat reading that ended at once, so whatever the runtime wrote (an error, --debug
// lines) killed it with SIGPIPE. The runtime's stdout and stderr arrive together, on stdout.
export const PIPED =
  'exec 3>&1; : | { "$0" "$@" 2>&1; echo "__exit=$?" >&3; } | { exec 4<&0; cat <&4 >&3 4<&- & }';

export async function piped(e, args) {
  const h = e.huskAsync(['-c', PIPED, RUNTIME, ...args], { runtime: '/bin/sh', root: undefined });
  const r = await h.done;
  const m = /__exit=(\d+)/.exec(r.stdout);
  r.code = m ? Number(m[1]) : 255;
  r.stdout = r.stdout.replace(/__exit=\d+\n?/, '');
  return r;
}

export async function rtPiped(e, args) {
  const r = await piped(e, ['--root', e.root, ...args]);
  if (r.code !== 0 && args.some((a) => a === 'checkpoint' || a === 'restore')) r.stderr += criuLog(args);
  return r;
}

export function count(file) {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

export async function countPast(file, n, what) {
  await waitFor(() => count(file) > n, `${what}: count past ${n} (now ${count(file)})`, 60_000, 100);
  return count(file);
}

export function timed(fn) {
  const t0 = process.hrtime.bigint();
  return Promise.resolve(fn()).then((r) => ({ ...r, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
}

export async function runCounter(t, e, b, id, file) {
  const r = await rtPiped(e, ['run', '-d', '--bundle', b.dir, id]);
  assert.equal(r.code, 0, `run -d: ${show(r)}`);
  return countPast(file, 2, 'before checkpoint');
}

// One checkpoint and detached restore of a running counter under the same id, both with
// `paths` (--work-path, --image-path); `global` goes before each verb. Resolves once the count
// has gone on past where the checkpoint left it.
export async function roundTrip(
  e,
  b,
  id,
  file,
  { paths, global = [], checkpoint = [], restore = [], what = '' },
) {
  const c = await rtPiped(e, [...global, 'checkpoint', ...checkpoint, ...paths, id]);
  assert.equal(c.code, 0, `checkpoint ${what}: ${show(c)}`);
  const at = count(file);
  const r = await rtPiped(e, [...global, 'restore', '-d', ...restore, ...paths, '--bundle', b.dir, id]);
  assert.equal(r.code, 0, `restore ${what}: ${show(r)}`);
  await countPast(file, at, `after restore ${what}`);
  return { c, r, at };
}

// A container running `script`, with a fresh host directory bound at `destination` (and
// `mounts` after it): the script's count goes there.
export function bindBundle(t, e, destination, script, mounts = []) {
  const data = e.tmpdir('husk-bind-');
  const b = makeBundle(
    t,
    (c, bb) => {
      c.root = { path: bb.rootfs, readonly: false };
      c.mounts.push({ destination, type: 'bind', source: data, options: ['rbind', 'rw'] }, ...mounts);
    },
    { copyRootfs: true, args: ['sh', '-c', script] },
  );
  return { b, data };
}
