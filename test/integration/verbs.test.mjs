// The verbs engines use on a running container: exec, ps, pause/resume, update, events,
// features, each checked from outside and from inside.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { CGROUP_ROOT, SKIP, env, makeBundle, show, waitFor } from '../lib/harness.mjs';

const require = createRequire(import.meta.url);

function running(t, mutate) {
  const e = env(t);
  const b = makeBundle(t, mutate, { args: ['sleep', '1000'] });
  const id = e.id('v');
  const r = e.husk(['run', '--detach', '-b', b.dir, id]);
  assert.equal(r.code, 0, show(r));
  return { e, b, id };
}

describe('verbs on a running container', { skip: SKIP }, () => {
  test('exec: exit code, env, cwd, user, and it runs in the container', (t) => {
    const { e, id } = running(t);
    let r = e.husk(['exec', id, 'sh', '-c', 'exit 5']);
    assert.equal(r.code, 5, show(r));
    r = e.husk([
      'exec',
      '-e',
      'A=1',
      '--cwd',
      '/tmp',
      '-u',
      '1000:1000',
      id,
      'sh',
      '-c',
      'echo $A $(pwd) $(id -u):$(id -g) $$',
    ]);
    assert.equal(r.code, 0, show(r));
    const [a, cwd, ids, pid] = r.stdout.trim().split(' ');
    assert.deepEqual([a, cwd, ids], ['1', '/tmp', '1000:1000']);
    assert.ok(Number(pid) > 1, 'a new process in the container pid namespace');
    r = e.husk(['exec', id, 'hostname']);
    assert.equal(r.stdout.trim(), 'husk');
  });

  test('exec --process (a JSON process, as engines send it) and --detach with --pid-file', (t) => {
    const { e, b, id } = running(t);
    const proc = path.join(b.dir, 'p.json');
    fs.writeFileSync(
      proc,
      JSON.stringify({
        args: ['sh', '-c', 'echo from-process'],
        cwd: '/',
        user: { uid: 0, gid: 0 },
        env: ['PATH=/bin'],
      }),
    );
    let r = e.husk(['exec', '--process', proc, id]);
    assert.equal(r.stdout, 'from-process\n', show(r));
    const pidFile = path.join(b.dir, 'e.pid');
    r = e.husk(['exec', '--detach', '--pid-file', pidFile, id, 'sleep', '100']);
    assert.equal(r.code, 0, show(r));
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    assert.ok(fs.existsSync(`/proc/${pid}`), 'the detached process runs');
  });

  test('ps --format json lists the host pids of the container', (t) => {
    const { e, id } = running(t);
    e.husk(['exec', '-d', id, 'sleep', '100']);
    const r = e.husk(['ps', '--format', 'json', id]);
    const pids = JSON.parse(r.stdout);
    assert.ok(pids.includes(e.state(id).pid));
    assert.equal(pids.length, 2, r.stdout);
  });

  test('pause and resume: state paused, the freezer frozen, exec refused unless --ignore-paused', (t) => {
    const { e, id } = running(t);
    assert.equal(e.husk(['pause', id]).code, 0);
    assert.equal(e.state(id).status, 'paused');
    assert.equal(
      fs.readFileSync(path.join(CGROUP_ROOT, 'freezer', 'husk', id, 'freezer.state'), 'utf8').trim(),
      'FROZEN',
    );
    const r = e.husk(['exec', id, 'true']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /paused/);
    assert.equal(e.husk(['resume', id]).code, 0);
    assert.equal(e.state(id).status, 'running');
    assert.equal(e.husk(['resume', id]).code, 1, 'resume of a running container is an error');
  });

  test('update: flags and --resources - (stdin JSON) change the cgroup files', (t) => {
    const { e, id } = running(t);
    let r = e.husk(['update', '--memory', '64m', '--pids-limit', '42', id]);
    assert.equal(r.code, 0, show(r));
    assert.equal(
      fs.readFileSync(path.join(CGROUP_ROOT, 'memory', 'husk', id, 'memory.limit_in_bytes'), 'utf8').trim(),
      String(64 * 1024 * 1024),
    );
    assert.equal(
      fs.readFileSync(path.join(CGROUP_ROOT, 'pids', 'husk', id, 'pids.max'), 'utf8').trim(),
      '42',
    );
    r = e.husk(['update', '--resources', '-', id], {
      input: JSON.stringify({ cpu: { shares: 512 }, pids: { limit: 77 } }),
    });
    assert.equal(r.code, 0, show(r));
    assert.equal(
      fs.readFileSync(path.join(CGROUP_ROOT, 'cpu', 'husk', id, 'cpu.shares'), 'utf8').trim(),
      '512',
    );
    assert.equal(
      fs.readFileSync(path.join(CGROUP_ROOT, 'pids', 'husk', id, 'pids.max'), 'utf8').trim(),
      '77',
    );
    r = e.husk(['update', '--memory', 'lots', id]);
    assert.match(r.stderr, /--memory: "lots" is not a size/);
  });

  test('events --stats prints one stats event with cpu, memory and pids; the stream ends with the container', async (t) => {
    const { e, id } = running(t);
    const r = e.husk(['events', '--stats', id]);
    const ev = JSON.parse(r.stdout);
    assert.equal(ev.type, 'stats');
    assert.equal(ev.id, id);
    assert.ok(ev.data.pids.current >= 1);
    assert.ok(ev.data.memory.usage.usage > 0);
    assert.ok(ev.data.cpu.usage.total > 0);
    const stream = e.huskAsync(['events', '--interval', '100ms', id]);
    await waitFor(() => stream.output().stdout.split('\n').filter(Boolean).length >= 2, 'two stats events');
    assert.equal(e.husk(['kill', id, 'KILL']).code, 0);
    const done = await stream.done;
    assert.equal(done.code, 0, show(done));
  });

  test('features is valid against the features schema and says what husk does', (t) => {
    const e = env(t);
    const r = e.husk(['features']);
    const f = JSON.parse(r.stdout);
    const { validateFeatures } = require('../../src/spec/generated/validators.js');
    assert.ok(validateFeatures(f), JSON.stringify(validateFeatures.errors));
    assert.equal(f.ociVersionMax, '1.3.0');
    assert.ok(f.linux.namespaces.includes('user'));
    assert.equal(f.linux.seccomp.enabled, true);
    // runc's key for checkpoint/restore, which engines read: the verbs exist (issue 21).
    assert.equal(f.annotations['org.opencontainers.runc.checkpoint.enabled'], 'true');
  });
});
