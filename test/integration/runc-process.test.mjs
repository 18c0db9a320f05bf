// runc's processes, terminals, hooks and seccomp (issue 19, "Processes, terminals, hooks,
// seccomp"), checked the same way on husk and on runc: RUNTIME=/usr/sbin/runc runs them against
// runc. runc needs a terminal of its own to relay one in the foreground, so those runs go
// through script(1)'s pty on both runtimes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HUSK, SKIP, env, makeBundle, show } from '../lib/harness.mjs';

const RUNTIME = process.env.RUNTIME ? path.resolve(process.env.RUNTIME) : undefined;
const IS_HUSK = !RUNTIME || /husk/.test(path.basename(RUNTIME));
const BIN = RUNTIME ?? HUSK;
const HAS_SCRIPT = spawnSync('script', ['--version']).status === 0;
const NEEDS_SCRIPT = SKIP || (HAS_SCRIPT ? false : 'script(1) (util-linux) is not installed');

const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

// `RUNTIME --root R args...` on a pty of its own (script -qec), as a user's shell would run it.
function onPty(e, args) {
  const r = spawnSync('script', ['-qec', [BIN, '--root', e.root, ...args].map(q).join(' '), '/dev/null'], {
    encoding: 'utf8',
    timeout: 30_000,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HUSK_TEST_MARKER: e.marker },
    cwd: e.root,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

// What the process sees of its terminal: owner uid and gid, and the onlcr flag.
const TTY_SCRIPT =
  'stat -L -c "owner=%u:%g" /proc/self/fd/0; stty -a 2>/dev/null | grep -o -- "-*onlcr"; true';

describe(`terminal (${RUNTIME ?? 'husk'})`, { skip: NEEDS_SCRIPT }, () => {
  test('run: the pty is the process user’s, ONLCR is off', (t) => {
    const e = env(t, { runtime: RUNTIME });
    const b = makeBundle(
      t,
      (c) => {
        c.process.terminal = true;
        c.process.user = { uid: 1000, gid: 1000 };
      },
      { args: ['sh', '-c', TTY_SCRIPT] },
    );
    const r = onPty(e, ['run', '-b', b.dir, e.id('tty')]);
    assert.equal(r.code, 0, show(r));
    // uid 1000; the group stays devpts' gid=5 (the template's mount option), as runc leaves it.
    assert.match(r.stdout, /owner=1000:5\b/, show(r));
    assert.match(r.stdout, /-onlcr/, show(r));
  });

  test('exec -t --user: the pty is that user’s, ONLCR is off', (t) => {
    const e = env(t, { runtime: RUNTIME });
    const b = makeBundle(t, { args: ['sleep', '1000'] });
    const id = e.id('ttyx');
    const d = e.husk(['run', '--detach', '-b', b.dir, id]);
    assert.equal(d.code, 0, show(d));
    const r = onPty(e, ['exec', '-t', '--user', '1234:1234', id, 'sh', '-c', TTY_SCRIPT]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /owner=1234:5\b/, show(r));
    assert.match(r.stdout, /-onlcr/, show(r));
  });

  // runc cannot relay a terminal without one of its own ("open /dev/tty"); husk can, and then
  // its output is the process's bytes.
  test('run with a terminal, stdout a pipe: the bytes as written', { skip: !IS_HUSK && 'husk only' }, (t) => {
    const e = env(t, { runtime: RUNTIME });
    const b = makeBundle(t, (c) => void (c.process.terminal = true), { args: ['printf', 'a\\nb\\n'] });
    const r = e.husk(['run', '-b', b.dir, e.id('bytes')]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'a\nb\n');
  });
});
