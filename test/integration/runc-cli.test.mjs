// runc's command line as tools read it (issue 19, "The command line as tools read it"; issue 23
// item 4): verbs and flags, --version, --debug logs, the spec template, exec's own failures and
// process files. RUNTIME=/usr/sbin/runc runs the same checks against runc; the few that are
// husk's own (a verb runc has and husk does not yet) say so.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, ROOTFS, SKIP, env, husk as runHusk, makeBundle, show, waitFor } from '../lib/harness.mjs';

const RUNTIME = process.env.RUNTIME ? path.resolve(process.env.RUNTIME) : undefined;
const IS_HUSK = !RUNTIME || /husk/.test(path.basename(RUNTIME));
const NAME = IS_HUSK ? 'husk' : path.basename(RUNTIME);
const rt = (args, opts = {}) => runHusk(args, { runtime: RUNTIME, ...opts });

describe(`the command line (${RUNTIME ?? 'husk'})`, { skip: SKIP }, () => {
  test('an unknown verb fails naming it, with or without --help', () => {
    for (const args of [['nosuchverb'], ['nosuchverb', '--help'], ['help', 'nosuchverb']]) {
      const r = rt(args);
      assert.notEqual(r.code, 0, `${args.join(' ')}: ${show(r)}`);
      assert.match(r.stderr, /No help topic for 'nosuchverb'/, `${args.join(' ')}: ${show(r)}`);
      assert.equal(r.stdout, '', `${args.join(' ')}: no help text on stdout`);
    }
  });

  test("checkpoint/restore --help: exit 0 and runc's flags (podman takes exit 0 for support)", () => {
    const flags = {
      checkpoint: [
        '--image-path',
        '--work-path',
        '--parent-path',
        '--leave-running',
        '--pre-dump',
        '--tcp-established',
        '--manage-cgroups-mode',
        '--empty-ns',
      ],
      restore: [
        '--image-path',
        '--work-path',
        '--bundle',
        '--detach',
        '--pid-file',
        '--console-socket',
        '--tcp-established',
      ],
    };
    for (const [verb, want] of Object.entries(flags)) {
      const r = rt([verb, '--help']);
      assert.equal(r.code, 0, show(r));
      for (const f of want) assert.ok(r.stdout.includes(f), `${verb} --help lists ${f}: ${show(r)}`);
    }
  });

  test('VERB --help (and help VERB) lists the verb flags, exit 0', () => {
    for (const args of [
      ['exec', '--help'],
      ['help', 'exec'],
    ]) {
      const r = rt(args);
      assert.equal(r.code, 0, show(r));
      for (const flag of ['--pid-file', '--process', '--tty', '--user', '--cwd', '--detach'])
        assert.ok(r.stdout.includes(flag), `${args.join(' ')} lists ${flag}: ${show(r)}`);
    }
    const r = rt(['spec', '--help']);
    assert.equal(r.code, 0, show(r));
    for (const flag of ['--bundle', '--rootless']) assert.ok(r.stdout.includes(flag), show(r));
  });

  test('an unknown flag fails naming it, before or after the verb', () => {
    for (const args of [
      ['state', '--nosuchflag', 'x'],
      ['--nosuchflag', 'state', 'x'],
      ['exec', '--nosuchflag', 'x', 'true'],
    ]) {
      const r = rt(args);
      assert.notEqual(r.code, 0, `${args.join(' ')}: ${show(r)}`);
      assert.match(r.stderr, /flag provided but not defined: -+nosuchflag/, `${args.join(' ')}: ${show(r)}`);
    }
  });

  // Go's flag package reads "-name" as "--name"; go-runc (and so containerd's shim) passes
  // restore's -no-subreaper that way.
  test('a long flag with one dash is the long flag, before and after the verb', (t) => {
    const e = env(t, { runtime: RUNTIME });
    const root = e.tmpdir();
    const del = rt(['-root', root, 'delete', '-force', e.id('nosuch')]);
    assert.equal(del.code, 0, `delete -force of a container that is not there: ${show(del)}`);
    const list = rt(['-root', root, 'list', '-format=json']);
    assert.equal(list.code, 0, show(list));
    assert.equal(list.stdout.trim(), 'null', show(list));
    const missing = path.join(root, 'no-bundle');
    const r = rt(['-root', root, 'restore', '-detach', '-no-subreaper', '-bundle', missing, e.id('r')]);
    assert.notEqual(r.code, 0, show(r));
    assert.doesNotMatch(r.stderr, /flag provided|Unknown argument|Incorrect Usage/, show(r));
    assert.ok(r.stderr.includes('no-bundle'), `the error names the bundle: ${show(r)}`);
  });

  test('-v and --version print NAME version, commit and spec lines', () => {
    // Go's flag package takes -version for --version as well.
    for (const args of [
      ['-v'],
      ['--version'],
      ['--root', '/tmp/x', '--version'],
      ['-root', '/tmp/x', '-version'],
    ]) {
      const r = rt(args);
      assert.equal(r.code, 0, show(r));
      const lines = r.stdout.split('\n');
      assert.match(lines[0], new RegExp(`^${NAME} version \\S+$`), show(r));
      assert.match(lines[1], /^commit: \S+$/, show(r));
      assert.match(lines[2], /^spec: \d+\.\d+\.\d+(-dev)?$/, show(r));
    }
  });
});

// One line of runc's logrus output in either format: { level, msg, time }, or null.
function logLine(line, format) {
  if (format === 'json') {
    const o = JSON.parse(line);
    assert.equal(typeof o.msg, 'string', line);
    assert.ok(!Number.isNaN(Date.parse(o.time)), `time in ${line}`);
    return o;
  }
  const m = /^time="([^"]+)" level=(\w+) msg=("(?:[^"\\]|\\.)*")/.exec(line);
  assert.ok(m, `a logrus text line: ${line}`);
  assert.ok(!Number.isNaN(Date.parse(m[1])), `time in ${line}`);
  return { time: m[1], level: m[2], msg: JSON.parse(m[3]) };
}

const jsonLines = (file) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => logLine(l, 'json'));

describe(`--debug and --log (${RUNTIME ?? 'husk'})`, { skip: SKIP }, () => {
  for (const format of ['text', 'json'])
    test(`run --debug writes debug lines to --log (${format})`, (t) => {
      const e = env(t, { runtime: RUNTIME });
      const b = makeBundle(t);
      const log = path.join(b.dir, 'log');
      const id = e.id(`dbg${format}`);
      const r = e.husk(['--debug', '--log', log, '--log-format', format, 'run', '-b', b.dir, id]);
      assert.equal(r.code, 0, show(r));
      const lines = fs
        .readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => logLine(l, format));
      const debug = lines.filter((l) => l.level === 'debug');
      assert.ok(debug.length > 0, `debug lines in ${fs.readFileSync(log, 'utf8')}`);
      if (IS_HUSK) {
        // husk's own steps, named: the config, the plan, the init's pid, the exit.
        const text = debug.map((l) => l.msg).join('\n');
        for (const step of [
          /config loaded from .*config\.json/,
          /launch plan built/,
          /init pid \d+/,
          /exited/,
        ])
          assert.match(text, step);
      }
      const quiet = path.join(b.dir, 'quiet');
      const q = e.husk(['--log', quiet, '--log-format', format, 'run', '-b', b.dir, e.id(`q${format}`)]);
      assert.equal(q.code, 0, show(q));
      const ql = fs.existsSync(quiet) ? fs.readFileSync(quiet, 'utf8').split('\n').filter(Boolean) : [];
      assert.deepEqual(
        ql.map((l) => logLine(l, format)).filter((l) => l.level === 'debug'),
        [],
        'no debug lines without --debug',
      );
    });

  // containerd's shim reports a failed call from the --log file alone ("unable to retrieve OCI
  // runtime error" when it is missing): a usage error must be there too.
  test('a usage error after the verb goes to --log as an error line', (t) => {
    const e = env(t, { runtime: RUNTIME });
    const dir = e.tmpdir();
    for (const { args, what } of [
      { args: ['state', '--nosuchflag', 'x'], what: /nosuchflag/ },
      { args: ['state'], what: /argument/ },
    ]) {
      const log = path.join(dir, `log-${args.length}.json`);
      const r = rt(['--root', dir, '--log', log, '--log-format', 'json', ...args]);
      assert.notEqual(r.code, 0, show(r));
      assert.ok(fs.existsSync(log), `${args.join(' ')}: ${log} written: ${show(r)}`);
      assert.ok(
        jsonLines(log).some((l) => l.level === 'error' && what.test(l.msg)),
        `${args.join(' ')}: ${fs.readFileSync(log, 'utf8')}`,
      );
    }
  });

  test('an error goes to --log as an error line', (t) => {
    const e = env(t, { runtime: RUNTIME });
    const dir = e.tmpdir();
    const log = path.join(dir, 'log.json');
    const r = e.husk(['--log', log, '--log-format', 'json', 'state', e.id('nosuch')]);
    assert.notEqual(r.code, 0, show(r));
    assert.ok(
      jsonLines(log).some((l) => l.level === 'error' && /does not exist/.test(l.msg)),
      fs.readFileSync(log, 'utf8'),
    );
  });
});

// `runc spec` and `runc spec --rootless` of runc 1.1.5+ds1 (Debian 12), as root.
const fixture = (name) => JSON.parse(fs.readFileSync(path.join(REPO, 'test', 'fixtures', name), 'utf8'));

// What a template may differ in: the hostname is the runtime's name; the rootless id maps name
// the caller.
function comparable(c) {
  const out = structuredClone(c);
  delete out.hostname;
  for (const m of [...(out.linux?.uidMappings ?? []), ...(out.linux?.gidMappings ?? [])]) delete m.hostID;
  return out;
}

describe(`spec: runc 1.1.5's template (${RUNTIME ?? 'husk'})`, { skip: SKIP }, () => {
  for (const [flags, name] of /** @type {Array<[string[], string]>} */ ([
    [[], 'runc-1.1.5-spec.json'],
    [['--rootless'], 'runc-1.1.5-spec-rootless.json'],
  ]))
    test(`spec ${flags.join(' ')} writes ${name}, field by field`, (t) => {
      const e = env(t, { runtime: RUNTIME });
      const dir = e.tmpdir();
      const r = e.husk(['spec', ...flags, '-b', dir]);
      assert.equal(r.code, 0, show(r));
      const got = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      const want = fixture(name);
      assert.equal(got.ociVersion, '1.0.2-dev', 'an ociVersion every runtime accepts');
      for (const field of ['process', 'root', 'mounts', 'linux']) {
        for (const k of new Set([...Object.keys(want[field]), ...Object.keys(got[field])]))
          assert.deepEqual(comparable(got)[field][k], comparable(want)[field][k], `/${field}/${k}`);
      }
      assert.deepEqual(comparable(got), comparable(want));
      if (flags.includes('--rootless')) {
        assert.equal(got.linux.uidMappings[0].hostID, process.getuid(), 'maps the caller');
        assert.equal(got.linux.gidMappings[0].hostID, process.getgid(), 'maps the caller');
      }
    });

  // The runtime runs its own template and runc's (made runnable: the shared rootfs, no terminal).
  for (const source of ['own', 'runc-1.1.5-spec.json'])
    test(`runs ${source === 'own' ? 'its own template' : "runc's template"}`, (t) => {
      const e = env(t, { runtime: RUNTIME });
      const dir = e.tmpdir();
      let config;
      if (source === 'own') {
        const r = e.husk(['spec', '-b', dir]);
        assert.equal(r.code, 0, show(r));
        config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      } else {
        config = fixture(source);
      }
      config.root.path = ROOTFS;
      config.process.terminal = false;
      config.process.args = ['sh', '-c', 'echo ok; grep Cap /proc/self/status'];
      config.process.env.push(`HUSK_TEST_MARKER=${e.marker}`);
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
      const r = e.husk(['run', '-b', dir, e.id('tmpl')]);
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /^ok\n/, show(r));
      // The template's three capabilities. Its ambient list cannot take effect without an
      // inheritable set (the kernel's rule), on runc as on husk: CapAmb stays empty.
      assert.match(r.stdout, /CapEff:\s+0*20000420\n/, show(r));
      assert.match(r.stdout, /CapAmb:\s+0+\n/, show(r));
    });
});

// A running container (sleep) on RUNTIME.
function running(t, mutate) {
  const e = env(t, { runtime: RUNTIME });
  const b = makeBundle(t, mutate, { args: ['sleep', '1000'] });
  const id = e.id('x');
  const r = e.husk(['run', '--detach', '-b', b.dir, id]);
  assert.equal(r.code, 0, show(r));
  return { e, b, id };
}

describe(`exec: the runtime's own failures exit 255 (${RUNTIME ?? 'husk'})`, { skip: SKIP }, () => {
  test('a paused container without --ignore-paused', (t) => {
    const { e, id } = running(t);
    assert.equal(e.husk(['pause', id]).code, 0);
    const r = e.husk(['exec', id, 'true']);
    assert.equal(r.code, 255, show(r));
    assert.match(r.stderr, /cannot exec in a paused container/, show(r));
    assert.equal(e.husk(['resume', id]).code, 0);
    // The process's own status is its own, even 255's neighbours.
    assert.equal(e.husk(['exec', id, 'sh', '-c', 'exit 254']).code, 254);
  });

  test('a --pid-file in a missing directory; nothing keeps running', (t) => {
    const { e, b, id } = running(t);
    const pidFile = path.join(b.dir, 'nodir', 'pid');
    for (const detach of [[], ['--detach']]) {
      const r = e.husk(['exec', ...detach, '--pid-file', pidFile, id, 'sleep', '999']);
      assert.equal(r.code, 255, show(r));
      assert.match(r.stderr, /nodir/, show(r));
    }
    const ps = e.husk(['exec', id, 'ps', '-o', 'args']);
    assert.doesNotMatch(ps.stdout, /sleep 999/, 'the process was not left running');
  });

  test('a missing program, a missing cwd, a missing or stopped container', async (t) => {
    const { e, id } = running(t);
    let r = e.husk(['exec', id, 'nosuchprogram']);
    assert.equal(r.code, 255, show(r));
    assert.match(r.stderr, /nosuchprogram/, show(r));
    r = e.husk(['exec', '--cwd', '/nosuchdir', id, 'true']);
    assert.equal(r.code, 255, show(r));
    assert.match(r.stderr, /nosuchdir/, show(r));
    r = e.husk(['exec', e.id('nosuch'), 'true']);
    assert.equal(r.code, 255, show(r));
    assert.match(r.stderr, /does not exist/, show(r));
    assert.equal(e.husk(['kill', id, 'KILL']).code, 0);
    await waitFor(() => e.state(id).status === 'stopped', 'the container to stop');
    r = e.husk(['exec', id, 'true']);
    assert.equal(r.code, 255, show(r));
    assert.match(r.stderr, /cannot exec in a stopped container/, show(r));
  });
});

describe(`exec --process: a process file (${RUNTIME ?? 'husk'})`, { skip: SKIP }, () => {
  test('no user field: uid 0, gid 0, as a config process', (t) => {
    const { e, b, id } = running(t);
    const file = path.join(b.dir, 'p.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        args: ['sh', '-c', 'echo $(id -u):$(id -g) $(pwd)'],
        cwd: '/tmp',
        env: ['PATH=/bin'],
      }),
    );
    const r = e.husk(['exec', '--process', file, id]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, '0:0 /tmp\n');
  });

  test('a field error fails (255) naming the file, its line and the pointer', (t) => {
    const { e, b, id } = running(t);
    const file = path.join(b.dir, 'bad.json');
    for (const [text, pointer] of [
      ['{"args": ["true"], "cwd": "/",\n "user": {"uid": "x", "gid": 0}}', '/user/uid'],
      ['{"args": "true",\n "cwd": "/"}', '/args'],
      ['{"args": ["true"], "cwd": "/",\n "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1}]}', '/rlimits/0'],
    ]) {
      fs.writeFileSync(file, text);
      const r = e.husk(['exec', '--process', file, id]);
      assert.equal(r.code, 255, show(r));
      if (IS_HUSK) {
        assert.ok(r.stderr.startsWith(`husk: ${file}:`), `names the file and line: ${show(r)}`);
        assert.ok(r.stderr.includes(`: ${pointer}`), `names ${pointer}: ${show(r)}`);
        assert.ok(!r.stderr.includes('/process/'), `the pointer is the file's own: ${show(r)}`);
      }
    }
  });
});

test(`config.json with no process.user runs as uid 0, gid 0 (${RUNTIME ?? 'husk'})`, { skip: SKIP }, (t) => {
  const e = env(t, { runtime: RUNTIME });
  const b = makeBundle(t, (c) => void delete c.process.user, {
    args: ['sh', '-c', 'echo $(id -u):$(id -g)'],
  });
  const r = e.husk(['run', '-b', b.dir, e.id('nouser')]);
  assert.equal(r.code, 0, show(r));
  assert.equal(r.stdout, '0:0\n');
});

const V1_DEVICES = '/sys/fs/cgroup/devices';

describe(`linux.resources.devices access strings (${RUNTIME ?? 'husk'})`, { skip: SKIP }, () => {
  // c 1:11 (/dev/kmsg) is in no runtime's default rules, so its line is the config's alone.
  for (const [access, want] of [
    ['rwa', 'rw'],
    ['ra', 'r'],
    ['mrw', 'rwm'],
  ])
    test(
      `access "${access}" is accepted and read as "${want}", as runc reads it`,
      {
        skip:
          !fs.existsSync(path.join(V1_DEVICES, 'devices.list')) &&
          'this host has no cgroup v1 devices controller',
      },
      (t) => {
        const e = env(t, { runtime: RUNTIME });
        const id = e.id('dev');
        const b = makeBundle(
          t,
          (c) => {
            c.linux.cgroupsPath = `/husk/${id}`;
            c.linux.resources = {
              devices: [
                { allow: false, access: 'rwm' },
                { allow: true, type: 'c', major: 1, minor: 11, access },
              ],
            };
          },
          { args: ['sleep', '1000'] },
        );
        const r = e.husk(['run', '--detach', '-b', b.dir, id]);
        assert.equal(r.code, 0, show(r));
        const list = fs.readFileSync(path.join(V1_DEVICES, 'husk', id, 'devices.list'), 'utf8');
        assert.match(list, new RegExp(`^c 1:11 ${want}$`, 'm'), list);
      },
    );

  test('an allow rule that names none of r, w, m fails', (t) => {
    const e = env(t, { runtime: RUNTIME });
    const b = makeBundle(t, (c) => {
      c.linux.resources = {
        devices: [
          { allow: false, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 11, access: 'a' },
        ],
      };
    });
    const r = e.husk(['run', '-b', b.dir, e.id('deva')]);
    assert.notEqual(r.code, 0, show(r));
    if (IS_HUSK) assert.match(r.stderr, /\/linux\/resources\/devices\/1\/access/, show(r));
  });
});
