// config.md: root, mounts (and the Linux mount options), process, user, hostname, domainname,
// annotations, extensibility and valid values. Hooks are in config-hooks.test.mjs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { check, assertFails, assertOk, describe } from '../lib/harness.mjs';
import { shConfig, defaultConfig, ROOTFS, tmpfs, bind } from '../lib/config.mjs';
import { parseMountinfo, mountAt, parseStatus, capMask } from '../lib/host.mjs';

/** The parsed /proc/self/mountinfo of a container made from cfg. */
async function mountsInside(env, cfg, opts) {
  return parseMountinfo(await env.insideOk(cfg, 'cat /proc/self/mountinfo', opts));
}

// --- Root --------------------------------------------------------------------------------

check(
  'root.path-absolute',
  'config.md#root',
  'root.path may be an absolute path; the container sees that directory as /',
  async (env) => {
    const out = await env.insideOk(shConfig('cat /.husk-rootfs'), null);
    assert.equal(out, fs.readFileSync(path.join(ROOTFS, '.husk-rootfs'), 'utf8'));
  },
);

check(
  'root.path-relative',
  'config.md#root',
  'a relative root.path is relative to the bundle',
  async (env) => {
    const cfg = shConfig('cat /bundle-marker');
    const b = env.bundle(cfg, { copy: true, files: { 'rootfs/bundle-marker': 'in this bundle\n' } });
    assert.equal(JSON.parse(fs.readFileSync(path.join(b, 'config.json'), 'utf8')).root.path, 'rootfs');
    assert.equal(await env.insideOk(cfg, null, { bundle: b }), 'in this bundle\n');
  },
);

check(
  'root.readonly',
  'config.md#root',
  'root.readonly true makes the root filesystem read-only',
  async (env) => {
    const r = await env.inside(
      shConfig('touch /should-not-exist; echo rc=$?; cat /proc/self/mountinfo'),
      null,
    );
    assertOk(r, 'run');
    const [first, ...rest] = r.stdout.split('\n');
    assert.equal(first, 'rc=1');
    assert.match(r.stderr, /Read-only file system/);
    assert.ok(
      mountAt(parseMountinfo(rest.join('\n')), '/').options.includes('ro'),
      'the mount at / is not ro',
    );
    assert.ok(!fs.existsSync(path.join(ROOTFS, 'should-not-exist')));
  },
);

check(
  'root.readonly-false',
  'config.md#root',
  'root.readonly false leaves the root filesystem writable',
  async (env) => {
    const cfg = shConfig('echo written > /new-file');
    const b = env.bundle(cfg, { copy: true, readonly: false });
    await env.insideOk(cfg, null, { bundle: b });
    assert.equal(fs.readFileSync(path.join(b, 'rootfs', 'new-file'), 'utf8'), 'written\n');
  },
);

check('root.readonly-default', 'config.md#root', 'root.readonly defaults to false', async (env) => {
  const cfg = shConfig('echo written > /new-file');
  const b = env.bundle(cfg, { copy: true });
  const c = JSON.parse(fs.readFileSync(path.join(b, 'config.json'), 'utf8'));
  delete c.root.readonly;
  fs.writeFileSync(path.join(b, 'config.json'), JSON.stringify(c));
  await env.insideOk(cfg, null, { bundle: b });
  assert.equal(fs.readFileSync(path.join(b, 'rootfs', 'new-file'), 'utf8'), 'written\n');
});

check(
  'root.path-missing',
  'config.md#root',
  'a root.path where no directory exists is an error',
  async (env) => {
    const cfg = shConfig('true');
    cfg.root.path = env.path('no-such-rootfs');
    assertFails(await env.rt.create(env.id(), env.bundle(cfg)), 'create');
  },
);

check(
  'root.path-not-directory',
  'config.md#root',
  'a root.path that is a file, not a directory, is an error',
  async (env) => {
    const cfg = shConfig('true');
    cfg.root.path = env.path('a-file');
    fs.writeFileSync(cfg.root.path, 'not a directory');
    assertFails(await env.rt.create(env.id(), env.bundle(cfg)), 'create');
  },
);

// --- Mounts ------------------------------------------------------------------------------

check(
  'mounts.order-same-destination',
  'config.md#mounts',
  'mounts are made in the listed order: the later of two mounts on one destination wins',
  async (env) => {
    const a = env.dir('a');
    const b = env.dir('b');
    fs.writeFileSync(path.join(a, 'from-a'), '');
    fs.writeFileSync(path.join(b, 'from-b'), '');
    const cfg = shConfig('ls /run');
    cfg.mounts.push(bind(a, '/run'), bind(b, '/run'));
    assert.equal(await env.insideOk(cfg, null), 'from-b\n');
  },
);

check(
  'mounts.order-nested',
  'config.md#mounts',
  'mounts are made in the listed order: a mount inside an earlier tmpfs is visible',
  async (env) => {
    const b = env.dir('b');
    fs.writeFileSync(path.join(b, 'inner'), 'inner file\n');
    const cfg = shConfig('cat /run/sub/inner');
    cfg.mounts.push(tmpfs('/run'), bind(b, '/run/sub'));
    assert.equal(await env.insideOk(cfg, null, { copy: true, readonly: true }), 'inner file\n');
  },
);

check(
  'mounts.order-nested-reverse',
  'config.md#mounts',
  'mounts are made in the listed order: a later tmpfs hides an earlier mount below it',
  async (env) => {
    const b = env.dir('b');
    fs.writeFileSync(path.join(b, 'inner'), 'inner file\n');
    const cfg = shConfig('ls -A /run');
    cfg.mounts.push(bind(b, '/run/sub'), tmpfs('/run'));
    assert.equal(await env.insideOk(cfg, null, { copy: true, readonly: true }), '');
  },
);

check(
  'mounts.order-mountinfo',
  'config.md#mounts',
  'mounts are made in the listed order (mountinfo order)',
  async (env) => {
    const cfg = shConfig('true');
    const order = ['/var', '/tmp', '/home', '/run'];
    for (const d of order) cfg.mounts.push(tmpfs(d));
    const mounts = await mountsInside(env, cfg);
    const seen = mounts.filter((m) => order.includes(m.mountpoint)).map((m) => m.mountpoint);
    assert.deepEqual(seen, order);
  },
);

check(
  'mounts.fs-specific-data',
  'config.md#linux-mount-options',
  'options that are not mount flags are passed to the filesystem (tmpfs mode, size)',
  async (env) => {
    const cfg = shConfig('true');
    cfg.mounts.push(tmpfs('/run', ['mode=0710', 'size=1m']));
    const m = mountAt(await mountsInside(env, cfg), '/run');
    assert.ok(m, 'no mount at /run');
    assert.ok(
      m.superOptions.includes('size=1024k') && m.superOptions.includes('mode=710'),
      `superblock options ${m.superOptions}`,
    );
  },
);

check(
  'mounts.bind-absolute-source',
  'config.md#mounts',
  'a bind mount of an absolute source shows the host directory',
  async (env) => {
    const src = env.dir('vol');
    fs.writeFileSync(path.join(src, 'data'), 'host data\n');
    const cfg = shConfig('cat /run/data');
    cfg.mounts.push(bind(src, '/run'));
    assert.equal(await env.insideOk(cfg, null), 'host data\n');
  },
);

check(
  'mounts.bind-relative-source',
  'config.md#mounts',
  'a relative bind mount source is relative to the bundle',
  async (env) => {
    const cfg = shConfig('cat /run/data');
    cfg.mounts.push(bind('vol', '/run'));
    const b = env.bundle(cfg, { files: { 'vol/data': 'bundle volume\n' } });
    assert.equal(await env.insideOk(cfg, null, { bundle: b }), 'bundle volume\n');
  },
);

check(
  'mounts.relative-destination',
  'config.md#mounts',
  'a relative destination is relative to /',
  async (env) => {
    const cfg = shConfig('true');
    cfg.mounts.push(tmpfs('run', ['size=2m']));
    const m = mountAt(await mountsInside(env, cfg), '/run');
    assert.ok(
      m && m.fstype === 'tmpfs' && m.superOptions.includes('size=2048k'),
      `no tmpfs at /run: ${JSON.stringify(m)}`,
    );
  },
);

check(
  'mounts.type-optional',
  'config.md#posix-platform-mounts',
  'a bind mount needs no type',
  async (env) => {
    const src = env.dir('vol');
    fs.writeFileSync(path.join(src, 'data'), 'untyped\n');
    const cfg = shConfig('cat /run/data');
    cfg.mounts.push({ destination: '/run', source: src, options: ['bind'] });
    assert.equal(await env.insideOk(cfg, null), 'untyped\n');
  },
);

check('mounts.bind-file', 'config.md#mounts', 'a bind mount source may be a file', async (env) => {
  const f = env.path('hostname-file');
  fs.writeFileSync(f, 'from a bound file\n');
  const cfg = shConfig('cat /etc/hostname');
  cfg.mounts.push(bind(f, '/etc/hostname'));
  assert.equal(await env.insideOk(cfg, null), 'from a bound file\n');
});

check(
  'mounts.bind-ro',
  'config.md#linux-mount-options',
  'a bind mount with "ro" cannot be written',
  async (env) => {
    const src = env.dir('vol', 0o777);
    const cfg = shConfig('touch /run/new; echo rc=$?');
    cfg.mounts.push(bind(src, '/run', ['bind', 'ro']));
    const r = await env.inside(cfg, null);
    assertOk(r, 'run');
    assert.match(r.stdout, /rc=1/);
    assert.match(r.stderr, /Read-only file system/);
    assert.deepEqual(fs.readdirSync(src), []);
  },
);

check(
  'mounts.bind-rw',
  'config.md#linux-mount-options',
  'a bind mount with "rw" can be written and the host sees the write',
  async (env) => {
    const src = env.dir('vol', 0o777);
    const cfg = shConfig('echo hi > /run/new');
    cfg.mounts.push(bind(src, '/run', ['bind', 'rw']));
    await env.insideOk(cfg, null);
    assert.equal(fs.readFileSync(path.join(src, 'new'), 'utf8'), 'hi\n');
  },
);

for (const [opt, visible] of /** @type {Array<[string, boolean]>} */ ([
  ['bind', false],
  ['rbind', true],
])) {
  check(
    `mounts.${opt}-submounts`,
    'config.md#linux-mount-options',
    `"${opt}" ${visible ? 'includes' : 'does not include'} mounts below the source`,
    async (env) => {
      const src = env.dir('vol');
      fs.mkdirSync(path.join(src, 'sub'));
      env.hostMount(['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs'], path.join(src, 'sub'));
      fs.writeFileSync(path.join(src, 'sub', 'in-submount'), '');
      const cfg = shConfig('ls /run/sub');
      cfg.mounts.push(bind(src, '/run', [opt]));
      assert.equal(await env.insideOk(cfg, null), visible ? 'in-submount\n' : '');
    },
  );
}

// Linux mount options whose effect shows in /proc/self/mountinfo: each tmpfs at /run gets the
// options, and the check reads the per-mount flags (or the superblock flags) back. Where the
// option is the default, it comes after its opposite, so that only a runtime that applies it
// (in order) passes.
/** @type {Array<[string, string[], (m: import('../../test/lib/core/proc.mjs').Mount) => boolean]>} */
const FLAG_CHECKS = [
  ['ro', ['ro'], (m) => m.options.includes('ro')],
  ['rw', ['ro', 'rw'], (m) => m.options.includes('rw')],
  ['nosuid', ['nosuid'], (m) => m.options.includes('nosuid')],
  ['suid', ['nosuid', 'suid'], (m) => !m.options.includes('nosuid')],
  ['nodev', ['nodev'], (m) => m.options.includes('nodev')],
  ['dev', ['nodev', 'dev'], (m) => !m.options.includes('nodev')],
  ['noexec', ['noexec'], (m) => m.options.includes('noexec')],
  ['exec', ['noexec', 'exec'], (m) => !m.options.includes('noexec')],
  ['noatime', ['noatime'], (m) => m.options.includes('noatime')],
  ['atime', ['noatime', 'atime'], (m) => !m.options.includes('noatime')],
  ['nodiratime', ['nodiratime'], (m) => m.options.includes('nodiratime')],
  ['diratime', ['nodiratime', 'diratime'], (m) => !m.options.includes('nodiratime')],
  ['strictatime', ['strictatime'], (m) => !m.options.includes('relatime') && !m.options.includes('noatime')],
  ['sync', ['sync'], (m) => m.superOptions.includes('sync')],
  ['async', ['sync', 'async'], (m) => !m.superOptions.includes('sync')],
  ['dirsync', ['dirsync'], (m) => m.superOptions.includes('dirsync')],
  ['lazytime', ['lazytime'], (m) => m.superOptions.includes('lazytime')],
  ['nolazytime', ['lazytime', 'nolazytime'], (m) => !m.superOptions.includes('lazytime')],
  ['shared', ['shared'], (m) => m.optional.some((o) => o.startsWith('shared:'))],
  ['rshared', ['rshared'], (m) => m.optional.some((o) => o.startsWith('shared:'))],
  ['private', ['shared', 'private'], (m) => !m.optional.some((o) => o.startsWith('shared:'))],
  ['rprivate', ['rshared', 'rprivate'], (m) => !m.optional.some((o) => o.startsWith('shared:'))],
  ['unbindable', ['unbindable'], (m) => m.optional.includes('unbindable')],
  ['runbindable', ['runbindable'], (m) => m.optional.includes('unbindable')],
  [
    'defaults',
    ['defaults'],
    (m) => m.options.includes('rw') && !m.options.includes('nosuid') && !m.options.includes('noexec'),
  ],
  ['silent-loud', ['silent', 'loud'], (m) => m.options.includes('rw')],
];

for (const [name, options, ok] of FLAG_CHECKS) {
  check(
    `mounts.option-${name}`,
    'config.md#linux-mount-options',
    `mount option${options.length > 1 ? 's' : ''} ${options.map((o) => `"${o}"`).join(', ')} take effect`,
    async (env) => {
      const cfg = shConfig('true');
      cfg.mounts.push(tmpfs('/run', options));
      const m = mountAt(await mountsInside(env, cfg), '/run');
      assert.ok(m, 'no mount at /run');
      assert.ok(
        ok(m),
        `mountinfo of /run: ${m.options.join(',')} ${m.optional.join(' ')} - ${m.superOptions.join(',')}`,
      );
    },
  );
}

check(
  'mounts.option-remount',
  'config.md#linux-mount-options',
  '"remount" changes an earlier mount instead of adding one',
  async (env) => {
    const cfg = shConfig('true');
    cfg.mounts.push(tmpfs('/run'), tmpfs('/run', ['remount', 'ro']));
    const runs = (await mountsInside(env, cfg)).filter((m) => m.mountpoint === '/run');
    assert.equal(runs.length, 1, `mounts at /run: ${runs.length}`);
    assert.ok(runs[0].options.includes('ro'));
  },
);

check(
  'mounts.option-bind-noexec',
  'config.md#linux-mount-options',
  '"noexec" on a bind mount stops programs on it from running',
  async (env) => {
    const src = env.dir('bin');
    fs.copyFileSync(path.join(ROOTFS, 'bin', 'busybox'), path.join(src, 'busybox'));
    fs.chmodSync(path.join(src, 'busybox'), 0o755);
    const cfg = shConfig('/run/busybox true; echo rc=$?');
    cfg.mounts.push(bind(src, '/run', ['bind', 'noexec']));
    const r = await env.inside(cfg, null);
    assertOk(r, 'run');
    assert.match(r.stdout, /rc=126/);
    assert.match(r.stderr, /Permission denied/);
  },
);

// --- Process -----------------------------------------------------------------------------

check('process.args', 'config.md#process', 'args are passed to the program unchanged', async (env) => {
  const cfg = defaultConfig({
    args: [
      '/bin/sh',
      '-c',
      'for a in "$@"; do printf "<%s>" "$a"; done',
      'zero',
      'a b',
      '$HOME',
      '*',
      '',
      "'q'",
    ],
  });
  assert.equal(await env.insideOk(cfg, null), "<a b><$HOME><*><><'q'>");
});

check(
  'process.args-path-search',
  'config.md#process',
  'args[0] without a slash is looked up in PATH, as execvp does',
  async (env) => {
    const cfg = defaultConfig({ args: ['echo', 'found in PATH'] });
    assert.equal(await env.insideOk(cfg, null), 'found in PATH\n');
  },
);

check(
  'process.args-absolute',
  'config.md#process',
  'args[0] may be an absolute path in the container',
  async (env) => {
    const cfg = defaultConfig({ args: ['/bin/echo', 'absolute'] });
    cfg.process.env = [];
    assert.equal(await env.insideOk(cfg, null), 'absolute\n');
  },
);

check(
  'process.args-missing-program',
  'config.md#process',
  'a program that does not exist in the container is an error',
  async (env) => {
    await env.createOrStartFails(
      defaultConfig({ args: ['/no/such/program'] }),
      'create with a missing program',
    );
  },
);

check('process.args-empty', 'config.md#process', 'args with no entry is an error', async (env) => {
  await env.createOrStartFails(defaultConfig({ args: [] }), 'create with args []');
});

check('process.env', 'config.md#process', 'env sets the environment of the program', async (env) => {
  const cfg = shConfig('printf "[%s][%s][%s]" "$FOO" "$EMPTY" "$EQ"');
  cfg.process.env.push('FOO=bar baz', 'EMPTY=', 'EQ=a=b');
  assert.equal(await env.insideOk(cfg, null), '[bar baz][][a=b]');
});

check(
  'process.env-isolated',
  'config.md#process',
  "the runtime's own environment does not leak into the program",
  async (env) => {
    const cfg = shConfig('env');
    const b = env.bundle(cfg);
    const id = env.id();
    const r = await env.rt.run(id, b, { env: { ...process.env, HUSK_CONF_LEAK: 'leaked' } });
    assertOk(r, 'run');
    assert.doesNotMatch(r.stdout, /HUSK_CONF_LEAK/);
    assert.match(r.stdout, /^TERM=xterm$/m);
  },
);

check('process.cwd', 'config.md#process', 'cwd is the working directory of the program', async (env) => {
  const cfg = shConfig('pwd');
  cfg.process.cwd = '/usr/bin';
  assert.equal(await env.insideOk(cfg, null), '/usr/bin\n');
});

check('process.cwd-relative', 'config.md#process', 'a relative cwd is an error', async (env) => {
  const cfg = shConfig('pwd');
  cfg.process.cwd = 'usr/bin';
  await env.createOrStartFails(cfg, 'create with cwd usr/bin');
});

check(
  'process.console-size-ignored',
  'config.md#process',
  'consoleSize is ignored when terminal is false',
  async (env) => {
    const cfg = shConfig('echo no terminal; [ -t 1 ] && echo tty');
    cfg.process.consoleSize = { height: 10, width: 20 };
    const r = await env.inside(cfg, null);
    assert.equal(r.stdout, 'no terminal\n', describe(r));
  },
);

// --- POSIX process: rlimits ------------------------------------------------------------------

const LIMIT_NAMES = {
  RLIMIT_CPU: 'Max cpu time',
  RLIMIT_FSIZE: 'Max file size',
  RLIMIT_DATA: 'Max data size',
  RLIMIT_STACK: 'Max stack size',
  RLIMIT_CORE: 'Max core file size',
  RLIMIT_NPROC: 'Max processes',
  RLIMIT_NOFILE: 'Max open files',
  RLIMIT_MEMLOCK: 'Max locked memory',
  RLIMIT_AS: 'Max address space',
  RLIMIT_LOCKS: 'Max file locks',
  RLIMIT_SIGPENDING: 'Max pending signals',
  RLIMIT_MSGQUEUE: 'Max msgqueue size',
  RLIMIT_NICE: 'Max nice priority',
  RLIMIT_RTPRIO: 'Max realtime priority',
};

function limitsOf(text) {
  const m = {};
  for (const [type, label] of Object.entries(LIMIT_NAMES)) {
    const line = text.split('\n').find((l) => l.startsWith(label));
    if (line) {
      const [soft, hard] = line.slice(26).trim().split(/\s+/);
      m[type] = { soft, hard };
    }
  }
  return m;
}

check(
  'rlimits.nofile',
  'config.md#posix-process',
  'rlimits soft and hard values are what getrlimit returns (RLIMIT_NOFILE)',
  async (env) => {
    const cfg = shConfig('cat /proc/self/limits');
    cfg.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 123, hard: 456 }];
    const l = limitsOf(await env.insideOk(cfg, null));
    assert.deepEqual(l.RLIMIT_NOFILE, { soft: '123', hard: '456' });
  },
);

check('rlimits.several', 'config.md#posix-process', 'every configured rlimit is applied', async (env) => {
  const want = [
    { type: 'RLIMIT_CORE', soft: 4096, hard: 8192 },
    { type: 'RLIMIT_NPROC', soft: 500, hard: 600 },
    { type: 'RLIMIT_STACK', soft: 4194304, hard: 16777216 },
    { type: 'RLIMIT_MSGQUEUE', soft: 4096, hard: 8192 },
    { type: 'RLIMIT_FSIZE', soft: 1048576, hard: 2097152 },
    { type: 'RLIMIT_CPU', soft: 1000, hard: 2000 },
  ];
  const cfg = shConfig('cat /proc/self/limits');
  cfg.process.rlimits = want;
  const l = limitsOf(await env.insideOk(cfg, null));
  for (const w of want) assert.deepEqual(l[w.type], { soft: String(w.soft), hard: String(w.hard) }, w.type);
});

check(
  'rlimits.unknown-type',
  'config.md#posix-process',
  'an rlimit type that maps to no kernel resource is an error',
  async (env) => {
    const cfg = shConfig('true');
    cfg.process.rlimits = [{ type: 'RLIMIT_NO_SUCH_THING', soft: 1, hard: 1 }];
    await env.createOrStartFails(cfg, 'create with RLIMIT_NO_SUCH_THING');
  },
);

check(
  'rlimits.duplicate',
  'config.md#posix-process',
  'two rlimits of the same type is an error',
  async (env) => {
    const cfg = shConfig('true');
    cfg.process.rlimits = [
      { type: 'RLIMIT_NOFILE', soft: 100, hard: 100 },
      { type: 'RLIMIT_NOFILE', soft: 200, hard: 200 },
    ];
    await env.createOrStartFails(cfg, 'create with RLIMIT_NOFILE twice');
  },
);

// --- Linux process ---------------------------------------------------------------------------

async function statusInside(env, cfg) {
  return parseStatus(await env.insideOk(cfg, 'cat /proc/self/status'));
}

const CAPS_CFG = {
  bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_RAW', 'CAP_SETUID', 'CAP_DAC_OVERRIDE'],
  effective: ['CAP_CHOWN', 'CAP_KILL'],
  permitted: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_RAW'],
  inheritable: ['CAP_KILL', 'CAP_NET_RAW'],
  ambient: ['CAP_NET_RAW'],
};

check(
  'caps.bounding',
  'config.md#linux-process',
  'capabilities.bounding is the bounding set',
  async (env) => {
    const cfg = shConfig('true');
    cfg.process.capabilities = structuredClone(CAPS_CFG);
    assert.equal((await statusInside(env, cfg)).CapBnd, capMask(CAPS_CFG.bounding));
  },
);

check(
  'caps.inheritable',
  'config.md#linux-process',
  'capabilities.inheritable is the inheritable set',
  async (env) => {
    const cfg = shConfig('true');
    cfg.process.capabilities = structuredClone(CAPS_CFG);
    assert.equal((await statusInside(env, cfg)).CapInh, capMask(CAPS_CFG.inheritable));
  },
);

check(
  'caps.ambient',
  'config.md#linux-process',
  'capabilities.ambient is the ambient set, and a non-root program keeps exactly those',
  async (env) => {
    const cfg = shConfig('true');
    cfg.process.capabilities = structuredClone(CAPS_CFG);
    cfg.process.user = { uid: 1000, gid: 1000 };
    const s = await statusInside(env, cfg);
    assert.equal(s.CapAmb, capMask(CAPS_CFG.ambient), 'CapAmb');
    assert.equal(s.CapEff, capMask(CAPS_CFG.ambient), 'CapEff of a non-root program after exec');
    assert.equal(s.CapPrm, capMask(CAPS_CFG.ambient), 'CapPrm of a non-root program after exec');
  },
);

check(
  'caps.effective-permitted',
  'config.md#linux-process',
  'capabilities in effective and permitted are held by a root program',
  async (env) => {
    const cfg = shConfig('true');
    cfg.process.capabilities = structuredClone(CAPS_CFG);
    const s = await statusInside(env, cfg);
    const eff = BigInt('0x' + s.CapEff);
    const prm = BigInt('0x' + s.CapPrm);
    const want = BigInt('0x' + capMask(CAPS_CFG.effective));
    const wantP = BigInt('0x' + capMask(CAPS_CFG.permitted));
    assert.equal(eff & want, want, `CapEff ${s.CapEff} lacks some of ${CAPS_CFG.effective}`);
    assert.equal(prm & wantP, wantP, `CapPrm ${s.CapPrm} lacks some of ${CAPS_CFG.permitted}`);
    // A root program after exec holds at most the bounding and inheritable sets.
    const bound = BigInt('0x' + capMask([...CAPS_CFG.bounding, ...CAPS_CFG.inheritable]));
    assert.equal(eff & ~bound, 0n, `CapEff ${s.CapEff} has capabilities outside bounding+inheritable`);
  },
);

check(
  'caps.absent-denied',
  'config.md#linux-process',
  'a capability left out of the sets is not held (chown needs CAP_CHOWN)',
  async (env) => {
    const cfg = shConfig('touch /tmp/f && chown 1 /tmp/f; echo rc=$?');
    cfg.mounts.push(tmpfs('/tmp'));
    const r = await env.inside(cfg, null);
    assertOk(r, 'run');
    assert.match(r.stdout, /rc=1/);
    assert.match(r.stderr, /Operation not permitted/);
  },
);

check(
  'caps.present-allowed',
  'config.md#linux-process',
  'a capability in the sets is held (chown with CAP_CHOWN)',
  async (env) => {
    const cfg = shConfig('touch /tmp/f && chown 1 /tmp/f && stat -c %u /tmp/f');
    cfg.mounts.push(tmpfs('/tmp'));
    for (const set of ['bounding', 'effective', 'permitted']) cfg.process.capabilities[set].push('CAP_CHOWN');
    assert.equal(await env.insideOk(cfg, null), '1\n');
  },
);

check(
  'caps.none-for-non-root',
  'config.md#linux-process',
  'a non-root program without ambient capabilities has no effective capabilities',
  async (env) => {
    const cfg = shConfig('true');
    cfg.process.user = { uid: 1000, gid: 1000 };
    const s = await statusInside(env, cfg);
    assert.equal(s.CapEff, '0000000000000000');
    assert.equal(s.CapBnd, capMask(cfg.process.capabilities.bounding));
  },
);

check(
  'caps.unknown-warns',
  'config.md#linux-process',
  'a capability the runtime cannot map is a warning, not an error',
  async (env) => {
    const cfg = shConfig('grep CapBnd /proc/self/status');
    cfg.process.capabilities.bounding.push('CAP_NO_SUCH_CAPABILITY');
    const r = await env.inside(cfg, null);
    assertOk(r, 'run with CAP_NO_SUCH_CAPABILITY in bounding');
    assert.match(r.stdout, new RegExp(capMask(defaultConfig().process.capabilities.bounding)));
  },
);

check(
  'process.no-new-privileges',
  'config.md#linux-process',
  'noNewPrivileges true sets no_new_privs',
  async (env) => {
    const cfg = shConfig('true');
    cfg.process.noNewPrivileges = true;
    assert.equal((await statusInside(env, cfg)).NoNewPrivs, '1');
  },
);

check(
  'process.no-new-privileges-false',
  'config.md#linux-process',
  'noNewPrivileges false leaves no_new_privs unset',
  async (env) => {
    const cfg = shConfig('true');
    cfg.process.noNewPrivileges = false;
    assert.equal((await statusInside(env, cfg)).NoNewPrivs, '0');
  },
);

check(
  'process.oom-score-adj',
  'config.md#linux-process',
  'oomScoreAdj sets oom_score_adj of the process',
  async (env) => {
    const cfg = shConfig('cat /proc/self/oom_score_adj');
    cfg.process.oomScoreAdj = 123;
    assert.equal(await env.insideOk(cfg, null), '123\n');
  },
);

check(
  'process.oom-score-adj-unset',
  'config.md#linux-process',
  'without oomScoreAdj the oom_score_adj of the caller is kept',
  async (env) => {
    const cfg = shConfig('cat /proc/self/oom_score_adj');
    const r = await env.rt.run(env.id(), env.bundle(cfg), { wrap: 'echo 7 > /proc/self/oom_score_adj' });
    assertOk(r, 'run');
    assert.equal(r.stdout, '7\n');
  },
);

// --- User ------------------------------------------------------------------------------------

check('user.uid', 'config.md#user', 'user.uid is the uid of the process', async (env) => {
  const cfg = shConfig('true');
  cfg.process.user = { uid: 1234, gid: 0 };
  assert.match((await statusInside(env, cfg)).Uid, /^1234\s+1234\s+1234\s+1234$/);
});

check('user.gid', 'config.md#user', 'user.gid is the gid of the process', async (env) => {
  const cfg = shConfig('true');
  cfg.process.user = { uid: 1234, gid: 4321 };
  assert.match((await statusInside(env, cfg)).Gid, /^4321\s+4321\s+4321\s+4321$/);
});

check(
  'user.additional-gids',
  'config.md#user',
  'user.additionalGids are the supplementary groups of the process',
  async (env) => {
    const cfg = shConfig('true');
    cfg.process.user = { uid: 1234, gid: 4321, additionalGids: [5, 6, 1002] };
    const groups = (await statusInside(env, cfg)).Groups.split(/\s+/).filter(Boolean).map(Number);
    assert.deepEqual(
      groups.sort((a, b) => a - b),
      [5, 6, 1002],
    );
  },
);

check('user.umask', 'config.md#user', 'user.umask is the umask of the process', async (env) => {
  const cfg = shConfig('true');
  cfg.process.user = { uid: 0, gid: 0, umask: 0o027 };
  assert.equal((await statusInside(env, cfg)).Umask, '0027');
});

check(
  'user.file-owner',
  'config.md#user',
  'files the process creates belong to user.uid and user.gid',
  async (env) => {
    const vol = env.dir('vol', 0o777);
    const cfg = shConfig('echo x > /run/owned');
    cfg.process.user = { uid: 1234, gid: 4321 };
    cfg.mounts.push(bind(vol, '/run'));
    await env.insideOk(cfg, null);
    const st = fs.statSync(path.join(vol, 'owned'));
    assert.deepEqual([st.uid, st.gid], [1234, 4321]);
  },
);

// --- Hostname, domainname --------------------------------------------------------------------

check('hostname', 'config.md#hostname', 'hostname is the hostname seen inside the container', async (env) => {
  const cfg = shConfig('hostname');
  cfg.hostname = 'conf-host-1';
  assert.equal(await env.insideOk(cfg, null), 'conf-host-1\n');
});

check(
  'domainname',
  'config.md#domainname',
  'domainname is the NIS domain name seen inside the container',
  async (env) => {
    const cfg = shConfig('cat /proc/sys/kernel/domainname');
    cfg.domainname = 'conformance.example';
    assert.equal(await env.insideOk(cfg, null), 'conformance.example\n');
  },
);

// --- Annotations, extensibility, valid values ----------------------------------------------

check(
  'annotations.non-string-value',
  'config.md#annotations',
  'an annotation value that is not a string is an error',
  async (env) => {
    const cfg = shConfig('true');
    cfg.annotations = { 'org.example.n': 42 };
    assertFails(await env.rt.create(env.id(), env.bundle(cfg)), 'create');
  },
);

check(
  'annotations.empty-key',
  'config.md#annotations',
  'an empty annotation key is an error',
  async (env) => {
    const cfg = shConfig('true');
    cfg.annotations = { '': 'value' };
    assertFails(await env.rt.create(env.id(), env.bundle(cfg)), 'create');
  },
);

check(
  'extensibility.unknown-properties',
  'config.md#extensibility',
  'unknown properties are ignored, not an error',
  async (env) => {
    const cfg = shConfig('echo ran');
    cfg['org.example.unknownTopLevel'] = { nested: [1, 2, 3] };
    cfg.process['org.example.unknownInProcess'] = true;
    cfg.linux['org.example.unknownInLinux'] = 'x';
    cfg.mounts[0]['org.example.unknownInMount'] = 1;
    assert.equal(await env.insideOk(cfg, null), 'ran\n');
  },
);

check(
  'oci-version.semver',
  'config.md#specification-version',
  'an ociVersion that is not SemVer is an invalid value and an error',
  async (env) => {
    const cfg = shConfig('true');
    cfg.ociVersion = 'not-a-version';
    assertFails(await env.rt.create(env.id(), env.bundle(cfg)), 'create');
  },
);
