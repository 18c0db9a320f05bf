// --root and container ids: an id must never lead out of --root (`..`, `a/b`, ...), and what is
// inside --root must not be followed out of it: a state dir that is a symlink to a directory
// elsewhere is neither removed, nor read, nor acted on; a state.json or config.json that is a
// symlink is never written through.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { HUSK_ONLY, IS_HUSK, SKIP, alive, fingerprint, readProc, secEnv, show } from './lib.mjs';

function snapshot(dir) {
  const out = {};
  for (const n of fs.readdirSync(dir)) out[n] = fingerprint(path.join(dir, n));
  return out;
}

// A host process an attack would signal, and a directory outside --root holding a state.json
// that names it (with its real start time, so husk would believe it).
function victim(e, name) {
  const sleeper = spawn('sleep', ['1000'], { stdio: 'ignore', env: { HUSK_SEC_MARKER: e.marker } });
  e.defer(() => sleeper.kill('SIGKILL'));
  const stat = readProc(sleeper.pid, 'stat');
  const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  const dir = e.tmp('victim');
  const bundle = `/victim-bundle-${e.marker}`;
  const state = {
    ociVersion: '1.3.0',
    id: name,
    pid: sleeper.pid,
    startTime,
    bundle,
    rootfs: '/',
    created: new Date().toISOString(),
    owner: '',
    cgroupDirs: [],
    freezerDir: null,
    namespaces: {},
    config: 'config.json',
  };
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ociVersion: '1.3.0' }));
  fs.writeFileSync(path.join(dir, 'canary'), 'outside --root\n');
  return { dir, sleeper, bundle, before: snapshot(dir) };
}

function assertVictimIntact(v, what) {
  assert.ok(fs.existsSync(v.dir), `${what}: the directory outside --root was removed`);
  assert.deepEqual(snapshot(v.dir), v.before, `${what}: files outside --root changed`);
  assert.ok(alive(v.sleeper.pid), `${what}: the process named by the outside state.json was signalled`);
}

describe('--root and container ids', { skip: SKIP }, () => {
  test('ids: "..", ".", "../x", "a/b", "x/../../y", "", "a\\nb" (and for husk ".cache") are refused and make nothing', (t) => {
    const e = secEnv(t);
    const b = e.bundle({ sharedRootfs: true, args: ['true'] });
    const parent = path.dirname(e.root);
    const up = path.basename(e.tmp('up')); // an existing sibling of --root
    const bad = ['..', '.', `../${e.marker}-up`, `../${up}`, 'a/b', `x/../../${e.marker}-y`, '', `a\nb`];
    // husk keeps its own files in --root under dot names (.cache), so it refuses those ids too.
    if (IS_HUSK) bad.push('.cache', '.hidden');
    const parentBefore = fs.readdirSync(parent).filter((n) => n.includes(e.marker));
    for (const id of bad) {
      const r = e.husk(['create', '--bundle', b.dir, id], { log: path.join(b.dir, 'log') });
      assert.notEqual(r.code, 0, `create ${JSON.stringify(id)} was accepted: ${show(r)}`);
      assert.ok(!r.signal && !r.timedOut, show(r));
    }
    assert.deepEqual(fs.readdirSync(e.root), [], 'something was made in --root');
    assert.deepEqual(
      fs.readdirSync(parent).filter((n) => n.includes(e.marker)),
      parentBefore,
      'something was made next to --root',
    );
    assert.deepEqual(fs.readdirSync(path.join(parent, up)), [], 'something was made in a sibling of --root');
    // The control: a plain id works.
    const ok = e.husk(['run', '--bundle', b.dir, e.id('fine.id_+-')]);
    assert.equal(ok.code, 0, show(ok));
  });

  test('ids: state, kill and delete of "../<dir outside --root>" touch nothing outside', (t) => {
    const e = secEnv(t);
    const v = victim(e, 'x');
    const id = path.relative(e.root, v.dir); // ../husk-test-sec-victim-XXXX
    assert.ok(id.startsWith('../'));
    for (const args of [
      ['state', id],
      ['kill', id, 'KILL'],
      ['delete', '--force', id],
      ['delete', id],
    ]) {
      const r = e.husk(args);
      assert.notEqual(r.code, 0, `${args.join(' ')} was accepted: ${show(r)}`);
      assert.ok(!r.stdout.includes(v.bundle), `${args[0]} read the state outside --root: ${show(r)}`);
      assertVictimIntact(v, args.join(' '));
    }
  });

  test('a state dir that is a symlink to a dir outside --root: delete (with and without --force) removes nothing there', (t) => {
    const e = secEnv(t);
    const id = e.id('link');
    const v = victim(e, id);
    fs.symlinkSync(v.dir, path.join(e.root, id));
    for (const args of [
      ['delete', id],
      ['delete', '--force', id],
    ]) {
      const r = e.husk(args);
      assertVictimIntact(v, args.join(' '));
      t.diagnostic(`${args.join(' ')}: ${r.code === 0 ? 'exit 0' : r.stderr.trim()}`);
    }
  });

  test(
    'a state dir that is a symlink to a dir outside --root: state does not read the state.json there',
    {
      skip: HUSK_ONLY,
    },
    (t) => {
      const e = secEnv(t);
      const id = e.id('link');
      const v = victim(e, id);
      fs.symlinkSync(v.dir, path.join(e.root, id));
      const r = e.husk(['state', id]);
      assert.ok(!r.stdout.includes(v.bundle), `state printed the state.json outside --root: ${show(r)}`);
      assert.notEqual(r.code, 0, `state of a symlinked state dir succeeded: ${show(r)}`);
    },
  );

  test(
    'a state dir that is a symlink to a dir outside --root: kill does not signal the pid named there',
    {
      skip: HUSK_ONLY,
    },
    (t) => {
      const e = secEnv(t);
      const id = e.id('link');
      const v = victim(e, id);
      fs.symlinkSync(v.dir, path.join(e.root, id));
      const r = e.husk(['kill', id, 'KILL']);
      assertVictimIntact(v, `kill (${show(r)})`);
    },
  );

  test('state.json and config.json that are symlinks to files outside --root are never written through', async (t) => {
    const e = secEnv(t);
    const b = e.bundle({ sharedRootfs: true, args: ['sleep', '1000'] });
    const id = e.id('files');
    const r = e.husk(['create', '--bundle', b.dir, id], { log: path.join(b.dir, 'log') });
    assert.equal(r.code, 0, show(r));
    const outside = e.tmp('outside');
    const dir = path.join(e.root, id);
    const files = ['state.json', 'config.json'].filter((n) => fs.existsSync(path.join(dir, n)));
    assert.ok(files.includes('state.json'), `no state.json in ${dir}: ${fs.readdirSync(dir)}`);
    for (const n of files) {
      fs.copyFileSync(path.join(dir, n), path.join(outside, n));
      fs.rmSync(path.join(dir, n));
      fs.symlinkSync(path.join(outside, n), path.join(dir, n));
    }
    const before = snapshot(outside);
    const steps = [
      ['start', id],
      ['update', '--pids-limit', '100', id],
      ['kill', id, 'KILL'],
    ];
    for (const args of steps) {
      const s = e.husk(args);
      t.diagnostic(`${args[0]}: ${s.code === 0 ? 'ok' : s.stderr.trim()}`);
      assert.deepEqual(snapshot(outside), before, `${args[0]} wrote through a symlinked state file`);
    }
    // husk refuses to read state through the symlink, so the test stops the init itself; a
    // forced delete still cleans up, without touching the files outside.
    const { pid } = JSON.parse(fs.readFileSync(path.join(outside, 'state.json'), 'utf8'));
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
    const d = e.husk(['delete', '--force', id]);
    assert.equal(d.code, 0, show(d));
    assert.ok(!fs.existsSync(dir), 'the state dir is gone');
    assert.deepEqual(snapshot(outside), before, 'delete changed or removed the files outside --root');
  });
});
