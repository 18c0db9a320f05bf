// Malformed and hostile input: each must fail with one clear `husk: ...` line naming what is
// wrong, exit non-zero, and leave nothing behind (no state directory, cgroup, mount or process).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { SKIP, assertFails, cgroupDirsOf, env, makeBundle, show } from '../lib/harness.mjs';

// The line of the first occurrence of `needle` in a file (1-based), for "file:line:" messages.
function lineOf(file, needle) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(needle));
  assert.ok(i >= 0, `${needle} not in ${file}`);
  return i + 1;
}

// `husk create` on a bundle made with `mutate`; expects failure with `fragment` (a string, a
// RegExp, or a function of the bundle returning one) and nothing left behind.
async function createFails(t, mutate, fragment, opts = {}) {
  const e = env(t);
  const b = makeBundle(t, mutate, opts);
  if (opts.after) opts.after(b);
  const id = e.id('bad');
  const flags = typeof opts.flags === 'function' ? opts.flags(b) : (opts.flags ?? []);
  const r = e.husk([...(opts.verb ?? ['create']), ...flags, '--bundle', b.dir, id]);
  assertFails(r, typeof fragment === 'function' ? fragment(b) : fragment);
  await e.assertClean();
  assert.deepEqual(cgroupDirsOf(id), []);
  return { r, b, id };
}

function ok(r) {
  assert.equal(r.code, 0, show(r));
  return r.stdout;
}

describe('bad container ids', { skip: SKIP }, () => {
  const cases = [
    ['a slash', 'a/b', 'invalid container id "a/b"'],
    ['a traversal', '../escape', 'invalid container id "../escape"'],
    ['..', '..', 'invalid container id ".."'],
    ['.', '.', 'invalid container id "."'],
    ['an empty id', '', 'container id must not be empty'],
    ['a newline', 'a\nb', 'invalid container id "a?b"'],
    ['a control character', 'a\x01b', 'invalid container id "a?b"'],
    ['a space', 'a b', 'invalid container id "a b"'],
    ['over 255 characters', 'x'.repeat(256), 'container id is longer than 255 characters'],
  ];
  for (const [what, id, fragment] of cases) {
    test(`create with ${what} in the id`, async (t) => {
      const e = env(t);
      const b = makeBundle(t);
      assertFails(e.husk(['create', '--bundle', b.dir, id]), fragment);
      // Nothing was made, in --root or beside it.
      await e.assertClean();
      assert.deepEqual(
        fs.readdirSync(path.dirname(e.root)).filter((n) => n === 'escape'),
        [],
      );
      // The other verbs refuse it as well (all of them for the traversal, one for the rest).
      const verbs =
        id === '../escape'
          ? [['state'], ['start'], ['kill'], ['delete', '--force']]
          : [['delete', '--force']];
      for (const verb of verbs) assertFails(e.husk([...verb, id]), fragment);
    });
  }

  test('an id too long for a directory name (256 characters)', async (t) => {
    const e = env(t);
    const b = makeBundle(t);
    const id = `${e.marker}-${'y'.repeat(256 - e.marker.length - 1)}`;
    e.ids.add(id);
    const r = e.husk(['create', '--bundle', b.dir, id]);
    assertFails(r, /container id|too long|ENAMETOOLONG|name too long/i);
    await e.assertClean();
  });

  test('a numeric-looking id is kept as written', async (t) => {
    const e = env(t);
    const b = makeBundle(t, undefined, { args: ['sleep', '600'] });
    const id = `0x${e.marker.slice(-4)}`;
    e.ids.add(id);
    e.ids.add(String(Number(id))); // where husk puts it today, so cleanup finds it
    ok(e.husk(['create', '--bundle', b.dir, id]));
    assert.deepEqual(fs.readdirSync(e.root), [id]);
    assert.equal(e.state(id).id, id);
    assert.equal(ok(e.husk(['list', '-q'])), `${id}\n`);
    ok(e.husk(['delete', id]));
    await e.assertClean();
  });

  test('a duplicate id: container X already exists, and the first one is untouched', async (t) => {
    const e = env(t);
    const b = makeBundle(t, undefined, { args: ['sleep', '600'] });
    const id = e.id('dup');
    ok(e.husk(['create', '--bundle', b.dir, id]));
    const before = e.state(id);
    const r = e.husk(['create', '--bundle', b.dir, id]);
    assertFails(r, `container ${id} already exists`);
    const after = e.state(id);
    assert.deepEqual(after, before);
    assert.equal(cgroupDirsOf(id).length > 0, true, 'the first container keeps its cgroups');
    ok(e.husk(['delete', id]));
    await e.assertClean();
  });
});

describe('bad bundles and config.json', { skip: SKIP }, () => {
  test('a bundle directory that does not exist', async (t) => {
    const e = env(t);
    const missing = path.join(e.tmpdir(), 'nope');
    assertFails(e.husk(['create', '--bundle', missing, e.id('nb')]), `${missing}/config.json: no such file`);
    await e.assertClean();
  });

  test('a bundle without config.json', async (t) => {
    await createFails(t, undefined, (b) => `${b.configPath}: no such file`, {
      after: (b) => fs.rmSync(b.configPath),
    });
  });

  test('config.json is a directory', async (t) => {
    await createFails(t, undefined, (b) => new RegExp(`^husk: ${b.configPath}: .*(EISDIR|directory)`), {
      after: (b) => {
        fs.rmSync(b.configPath);
        fs.mkdirSync(b.configPath);
      },
    });
  });

  test('config.json that is not JSON', async (t) => {
    await createFails(
      t,
      () => '{\n  "ociVersion": "1.3.0",\n  "process": {,\n}\n',
      (b) => `${b.configPath}:3: not valid JSON`,
    );
  });

  test('an empty config.json', async (t) => {
    await createFails(
      t,
      () => '',
      (b) => `${b.configPath}: not valid JSON`,
    );
  });

  test('process.args not an array', async (t) => {
    await createFails(
      t,
      (c) => {
        c.process.args = 'sh -c true';
      },
      (b) => `${b.configPath}:${lineOf(b.configPath, '"args"')}: /process/args: must be an array`,
    );
  });

  test('process.args empty', async (t) => {
    await createFails(
      t,
      (c) => {
        c.process.args = [];
      },
      /\/process\/args: must (have at least 1 item|be a non-empty array)/,
    );
  });

  test('no process', async (t) => {
    await createFails(
      t,
      (c) => {
        delete c.process;
      },
      '/process: is required',
    );
  });

  test('a relative cwd', async (t) => {
    await createFails(
      t,
      (c) => {
        c.process.cwd = 'tmp';
      },
      /\/process\/cwd: (must match|"tmp" must be an absolute path)/,
    );
  });

  test('ociVersion 2.0.0', async (t) => {
    await createFails(
      t,
      (c) => {
        c.ociVersion = '2.0.0';
      },
      (b) => `${b.configPath}: /ociVersion: 2.0.0 is not supported`,
    );
  });

  test('an unknown namespace type', async (t) => {
    await createFails(
      t,
      (c) => {
        c.linux.namespaces.push({ type: 'bogus' });
      },
      // The entry added last, whatever the template lists before it.
      (b) =>
        `${b.configPath}:${lineOf(b.configPath, '"bogus"')}: /linux/namespaces/${b.config.linux.namespaces.length - 1}/type: must be one of`,
    );
  });

  test('a namespace listed twice', async (t) => {
    await createFails(
      t,
      (c) => {
        c.linux.namespaces.push({ type: 'pid' });
      },
      (b) =>
        `/linux/namespaces/${b.config.linux.namespaces.length - 1}/type: namespace "pid" is listed twice`,
    );
  });

  test('uidMappings without a user namespace', async (t) => {
    await createFails(
      t,
      (c) => {
        c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 1000 }];
        c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 1000 }];
      },
      '/linux/uidMappings: id mappings need a user namespace',
    );
  });

  test('a user namespace without mappings', async (t) => {
    await createFails(
      t,
      (c) => {
        c.linux.namespaces.push({ type: 'user' });
      },
      '/linux/uidMappings: a new user namespace needs uid mappings',
    );
  });

  test('an unknown capability', async (t) => {
    await createFails(
      t,
      (c) => {
        c.process.capabilities.bounding.push('CAP_NOPE');
      },
      /\/process\/capabilities\/bounding\/3: (unknown capability "CAP_NOPE"|must match)/,
    );
  });

  test('an unknown rlimit', async (t) => {
    await createFails(
      t,
      (c) => {
        c.process.rlimits.push({ type: 'RLIMIT_NOPE', soft: 1, hard: 1 });
      },
      /\/process\/rlimits\/1\/type: (unknown rlimit "RLIMIT_NOPE"|must match)/,
    );
  });

  test('an rlimit given twice', async (t) => {
    await createFails(
      t,
      (c) => {
        c.process.rlimits.push({ type: 'RLIMIT_NOFILE', soft: 10, hard: 10 });
      },
      '/process/rlimits/1/type: rlimit "RLIMIT_NOFILE" is given twice',
    );
  });

  test('an rlimit with soft above hard', async (t) => {
    await createFails(
      t,
      (c) => {
        c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 2048, hard: 1024 }];
      },
      '/process/rlimits/0: soft limit 2048 is above the hard limit 1024',
    );
  });

  test('a hostname without a uts namespace', async (t) => {
    await createFails(
      t,
      (c) => {
        c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'uts');
      },
      '/hostname: setting a hostname needs a uts namespace',
    );
  });

  test('rootfsPropagation "bogus"', async (t) => {
    await createFails(
      t,
      (c) => {
        c.linux.rootfsPropagation = 'bogus';
      },
      (b) => `${b.configPath}:${lineOf(b.configPath, '"bogus"')}: /linux/rootfsPropagation: must be one of`,
    );
  });

  test('terminal true without --console-socket', async (t) => {
    await createFails(
      t,
      (c) => {
        c.process.terminal = true;
      },
      '/process/terminal: a terminal needs --console-socket',
    );
  });

  test('a device where the image has a file: refused, the file kept', async (t) => {
    await createFails(
      t,
      (c) => {
        c.linux.devices = [{ path: '/etc/passwd', type: 'c', major: 1, minor: 3 }];
      },
      '/linux/devices/0: device /etc/passwd: a different file is already there',
      { copyRootfs: true },
    );
  });

  test('a systemd cgroupsPath without --systemd-cgroup', async (t) => {
    await createFails(
      t,
      (c) => {
        c.linux.cgroupsPath = 'system.slice:husk:x';
      },
      '/linux/cgroupsPath: "system.slice:husk:x" is a systemd path',
    );
  });

  test('the error goes to --log as JSON too', async (t) => {
    const e = env(t);
    const b = makeBundle(t, (c) => {
      c.process.args = 'nope';
    });
    const log = path.join(b.dir, 'log.json');
    const r = e.husk(['--log', log, '--log-format', 'json', 'create', '--bundle', b.dir, e.id('log')]);
    assertFails(r, '/process/args: must be an array');
    const lines = fs
      .readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const err = lines.filter((l) => l.level === 'error');
    assert.equal(err.length, 1, JSON.stringify(lines));
    assert.deepEqual(Object.keys(err[0]).sort(), ['level', 'msg', 'time']);
    assert.equal(`husk: ${err[0].msg}\n`, r.stderr);
    assert.ok(!Number.isNaN(Date.parse(err[0].time)));
    await e.assertClean();
  });
});

describe('failures while the container is being made', { skip: SKIP }, () => {
  // The filter goes in right before the exec, which it denies, and so the report and both exit
  // calls: the init must still end (a trap), not retry its exit for ever (musl's _exit does).
  // Nothing can tell that death from the program's own, so run exits with the signal's status.
  test('a seccomp profile that denies execve, exit and exit_group: run fails at once', async (t) => {
    const e = env(t);
    const b = makeBundle(t, (c) => {
      c.linux.seccomp = {
        defaultAction: 'SCMP_ACT_ERRNO',
        syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ALLOW' }],
      };
    });
    const id = e.id('deny-exit');
    const started = Date.now();
    const r = e.husk(['run', '--bundle', b.dir, id], { timeout: 15_000 });
    const took = Date.now() - started;
    assert.ok(r.code !== 0 && r.code !== null, show(r));
    assert.ok(took < 10_000, `took ${took} ms`);
    await e.assertClean();
    assert.deepEqual(cgroupDirsOf(id), []);
  });

  test('a mount with an unknown filesystem type', async (t) => {
    await createFails(
      t,
      (c) => {
        c.mounts.push({ destination: '/home', type: 'nosuchfs', source: 'none' });
      },
      '/mounts/7: mount nosuchfs on /home: No such device',
    );
  });

  test('a bind mount of a missing source', async (t) => {
    await createFails(
      t,
      (c, b) => {
        c.mounts.push({
          destination: '/home',
          type: 'bind',
          source: path.join(b.dir, 'missing'),
          options: ['rbind'],
        });
      },
      /^husk: \/mounts\/7: .*No such file or directory$/,
    );
  });

  test('a rootfs directory that does not exist', async (t) => {
    await createFails(
      t,
      (c, b) => {
        c.root.path = path.join(b.dir, 'no-rootfs');
      },
      (b) => `/root/path: rootfs ${path.join(b.dir, 'no-rootfs')} does not exist`,
    );
  });

  test('an executable that is not found', async (t) => {
    await createFails(
      t,
      (c) => {
        c.process.args = ['nosuchbin', 'x'];
      },
      '/process/args/0: exec: "nosuchbin": executable file not found in $PATH',
    );
  });

  test('an executable path that does not exist', async (t) => {
    await createFails(
      t,
      (c) => {
        c.process.args = ['/bin/nosuchbin'];
      },
      /^husk: \/process\/args\/0: .*\/bin\/nosuchbin.*(no such file|not found)/i,
    );
  });

  test('a cwd that does not exist (read-only rootfs)', async (t) => {
    await createFails(
      t,
      (c) => {
        c.process.cwd = '/nonexistent';
      },
      /^husk: \/process\/cwd: .*\/nonexistent.*No such file or directory$/,
    );
  });

  test('run fails the same way and removes what it made', async (t) => {
    await createFails(
      t,
      (c) => {
        c.process.args = ['nosuchbin'];
      },
      '/process/args/0: exec: "nosuchbin": executable file not found in $PATH',
      { verb: ['run'] },
    );
  });

  test('a console socket that does not exist: the error names the flag and the path', async (t) => {
    await createFails(
      t,
      (c) => {
        c.process.terminal = true;
      },
      (b) => `--console-socket ${path.join(b.dir, 'no.sock')}`,
      { flags: (b) => ['--console-socket', path.join(b.dir, 'no.sock')] },
    );
  });

  test('a --root that is a file', async (t) => {
    const e = env(t);
    const file = path.join(e.tmpdir(), 'file');
    fs.writeFileSync(file, '');
    const b = makeBundle(t);
    assertFails(e.husk(['create', '--bundle', b.dir, e.id('rf')], { root: file }), `--root ${file}`);
    assertFails(e.husk(['list'], { root: file }), `--root ${file}`);
    assert.equal(fs.readFileSync(file, 'utf8'), '');
    await e.assertClean();
  });

  test('a --pid-file in a directory that does not exist: create fails after the init is made', async (t) => {
    const e = env(t);
    const b = makeBundle(t, undefined, { args: ['sleep', '600'] });
    const pidFile = path.join(b.dir, 'no', 'such', 'dir', 'pid');
    const id = e.id('pf');
    assertFails(e.husk(['create', '--pid-file', pidFile, '--bundle', b.dir, id]), `--pid-file ${pidFile}:`);
    await e.assertClean();
  });

  test('a mount destination through a symlink that points out of the rootfs', async (t) => {
    const e = env(t);
    const outside = e.tmpdir('husk-test-outside-');
    const b = makeBundle(
      t,
      (c) => {
        c.mounts.push({ destination: '/evil', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] });
        c.process.args = [
          'sh',
          '-c',
          'echo pwned > /evil/f; grep " /evil\\| /tmp/husk-test" /proc/self/mountinfo',
        ];
      },
      { copyRootfs: true },
    );
    fs.symlinkSync(outside, path.join(b.rootfs, 'evil'));
    const r = e.husk(['run', '--bundle', b.dir, e.id('evil')]);
    // husk may refuse the destination or mount inside the rootfs; either way nothing may land
    // in (or be mounted on) the host directory the symlink names.
    if (r.code !== 0) assertFails(r, '/mounts/7');
    assert.deepEqual(fs.readdirSync(outside), [], `the mount escaped the rootfs: ${show(r)}`);
    const hostMounts = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    assert.ok(!hostMounts.includes(outside), 'a mount landed on the host directory');
    if (r.code === 0) assert.match(r.stdout, /tmpfs/, 'the tmpfs is mounted inside the container');
    await e.assertClean();
  });

  test('a mount destination through an absolute symlink is resolved inside the rootfs', async (t) => {
    const e = env(t);
    const outside = e.tmpdir('husk-test-outside-');
    const b = makeBundle(
      t,
      (c) => {
        c.mounts.push({ destination: '/evil', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] });
        c.process.args = [
          'sh',
          '-c',
          'echo inside > /evil/f && cat /evil/f && grep -c " tmpfs " /proc/self/mountinfo',
        ];
      },
      { copyRootfs: true },
    );
    // The same path exists inside the rootfs: that is where the mount must go.
    fs.mkdirSync(path.join(b.rootfs, outside), { recursive: true });
    fs.symlinkSync(outside, path.join(b.rootfs, 'evil'));
    const r = e.husk(['run', '--bundle', b.dir, e.id('in')]);
    assert.match(ok(r), /^inside\n\d+\n$/);
    assert.deepEqual(fs.readdirSync(outside), [], 'the tmpfs was mounted on the host directory');
    assert.deepEqual(fs.readdirSync(path.join(b.rootfs, outside)), [], 'the write went to the tmpfs');
    await e.assertClean();
  });

  test('a relative bind source is resolved against the bundle, and ro holds', async (t) => {
    const e = env(t);
    const b = makeBundle(t, (c) => {
      c.mounts.push({ destination: '/home', type: 'bind', source: 'data', options: ['rbind', 'ro'] });
      c.process.args = ['sh', '-c', 'cat /home/f; touch /home/g 2>&1; echo rc=$?'];
    });
    fs.mkdirSync(path.join(b.dir, 'data'));
    fs.writeFileSync(path.join(b.dir, 'data', 'f'), 'from the bundle\n');
    const r = e.husk(['run', '--bundle', b.dir, e.id('rel')]);
    assert.equal(ok(r), 'from the bundle\ntouch: /home/g: Read-only file system\nrc=1\n');
    assert.ok(!fs.existsSync(path.join(b.dir, 'data', 'g')));
    await e.assertClean();
  });
});

describe('verbs on the wrong container', { skip: SKIP }, () => {
  test('delete, state, kill and start of an unknown id', async (t) => {
    const e = env(t);
    const id = e.id('ghost');
    for (const verb of [['delete'], ['state'], ['kill'], ['kill', '--all'], ['start']])
      assertFails(e.husk([...verb, id]), `container ${id} does not exist`);
    // `delete --force` of a container that is gone succeeds quietly, as runc's does: containerd
    // and docker call it after every delete.
    const forced = e.husk(['delete', '--force', id]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(forced.stderr, '');
    // A --root that does not exist is no different.
    for (const verb of [['state'], ['delete']])
      assertFails(
        e.husk([...verb, id], { root: path.join(e.root, 'not-made') }),
        `container ${id} does not exist`,
      );
    await e.assertClean();
  });

  test('kill with an unknown or invalid signal leaves the container alone', async (t) => {
    const e = env(t);
    const b = makeBundle(t, undefined, { args: ['sleep', '600'] });
    const id = e.id('sig');
    ok(e.husk(['create', '--bundle', b.dir, id]));
    assertFails(e.husk(['kill', id, 'NOPE']), 'unknown signal "NOPE"');
    assertFails(e.husk(['kill', id, 'SIGNOPE']), 'unknown signal "SIGNOPE"');
    assertFails(e.husk(['kill', id, '65']), 'invalid signal 65');
    // 0 is "is it alive" (runc's too): it succeeds and sends nothing.
    ok(e.husk(['kill', id, '0']));
    assert.equal(e.state(id).status, 'created');
    ok(e.husk(['delete', id]));
    await e.assertClean();
  });

  test('kill with a numeric-looking signal name is refused, not converted', async (t) => {
    const e = env(t);
    const b = makeBundle(t, undefined, { args: ['sleep', '600'] });
    const id = e.id('hex');
    ok(e.husk(['create', '--bundle', b.dir, id]));
    assertFails(e.husk(['kill', id, '0x9']), 'unknown signal "0x9"');
    assertFails(e.husk(['kill', id, '1e1']), 'unknown signal "1e1"');
    assert.equal(e.state(id).status, 'created');
    ok(e.husk(['delete', id]));
    await e.assertClean();
  });

  test('start of a running and of a stopped container', async (t) => {
    const e = env(t);
    const b = makeBundle(t, undefined, { args: ['sleep', '600'] });
    const running = e.id('running');
    ok(e.husk(['run', '-d', '--bundle', b.dir, running]));
    assertFails(e.husk(['start', running]), 'cannot start a container that is running, only a created one');
    const b2 = makeBundle(t, undefined, { args: ['true'] });
    const stopped = e.id('stopped');
    ok(e.husk(['run', '--keep', '--bundle', b2.dir, stopped]));
    assertFails(e.husk(['start', stopped]), 'cannot start a container that is stopped, only a created one');
    ok(e.husk(['delete', '--force', running]));
    ok(e.husk(['delete', stopped]));
    await e.assertClean();
  });

  test('a state directory replaced by a symlink is not followed', async (t) => {
    const e = env(t);
    const elsewhere = e.tmpdir();
    fs.writeFileSync(path.join(elsewhere, 'keep'), 'x');
    fs.mkdirSync(e.root, { recursive: true });
    const id = e.id('link');
    fs.symlinkSync(elsewhere, path.join(e.root, id));
    const r = e.husk(['delete', '--force', id]);
    assert.notEqual(r.code, 0, show(r));
    assert.ok(
      fs.existsSync(path.join(elsewhere, 'keep')),
      'delete followed the symlink and removed a host directory',
    );
    fs.rmSync(path.join(e.root, id));
    await e.assertClean();
  });
});
