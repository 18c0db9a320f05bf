// features.md and features-linux.md: the document `RUNTIME features` prints, and that the runtime
// accepts in config.json what the document says it recognizes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { check, assertOk, describe } from '../lib/harness.mjs';
import { shConfig, setNamespace } from '../lib/config.mjs';
import { capMask, heldCaps, parseStatus } from '../lib/host.mjs';

const SEMVER = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

/** The features document, or skips the check when the runtime has no `features`. */
async function features(env, t) {
  const r = await env.rt.features();
  if (r.code !== 0) {
    t.skip(
      `the runtime has no working "features" command (exit ${r.code}: ${r.stderr.trim().slice(0, 120)})`,
    );
    return null;
  }
  try {
    return JSON.parse(r.stdout);
  } catch (e) {
    assert.fail(`features did not print JSON: ${e.message}: ${r.stdout.slice(0, 200)}`);
  }
}

function compareSemver(a, b) {
  const x = SEMVER.exec(a);
  const y = SEMVER.exec(b);
  for (let i = 1; i <= 3; i++) if (Number(x[i]) !== Number(y[i])) return Number(x[i]) - Number(y[i]);
  if (x[4] === y[4]) return 0;
  if (x[4] === undefined) return 1; // a release is above its pre-releases
  if (y[4] === undefined) return -1;
  return x[4] < y[4] ? -1 : 1;
}

check(
  'features.versions',
  'features.md#specification-version',
  'ociVersionMin and ociVersionMax are SemVer strings',
  async (env, t) => {
    const f = await features(env, t);
    if (!f) return;
    assert.match(f.ociVersionMin, SEMVER);
    assert.match(f.ociVersionMax, SEMVER);
  },
);

check(
  'features.max-not-below-min',
  'features.md#specification-version',
  'ociVersionMax is not less than ociVersionMin',
  async (env, t) => {
    const f = await features(env, t);
    if (!f) return;
    assert.ok(
      compareSemver(f.ociVersionMax, f.ociVersionMin) >= 0,
      `${f.ociVersionMax} < ${f.ociVersionMin}`,
    );
  },
);

for (const which of ['ociVersionMin', 'ociVersionMax']) {
  check(
    `features.accepts-${which.slice(10).toLowerCase()}`,
    'features.md#specification-version',
    `the runtime accepts ${which} as the ociVersion of config.json`,
    async (env, t) => {
      const f = await features(env, t);
      if (!f) return;
      const cfg = shConfig('echo ok');
      cfg.ociVersion = f[which];
      assert.equal(await env.insideOk(cfg, null), 'ok\n');
    },
  );
}

const TOP = [
  'ociVersionMin',
  'ociVersionMax',
  'hooks',
  'mountOptions',
  'linux',
  'annotations',
  'potentiallyUnsafeConfigAnnotations',
];
const LINUX = [
  'namespaces',
  'capabilities',
  'cgroup',
  'seccomp',
  'apparmor',
  'selinux',
  'intelRdt',
  'mountExtensions',
  'netDevices',
  'memoryPolicy',
];

check(
  'features.known-properties',
  'features.md#specification-version',
  'the document has no properties the spec does not define',
  async (env, t) => {
    const f = await features(env, t);
    if (!f) return;
    assert.deepEqual(
      Object.keys(f).filter((k) => !TOP.includes(k)),
      [],
    );
    assert.deepEqual(
      Object.keys(f.linux ?? {}).filter((k) => !LINUX.includes(k)),
      [],
    );
  },
);

check(
  'features.annotations',
  'features.md#annotations',
  'annotations is a map of string keys to string values',
  async (env, t) => {
    const f = await features(env, t);
    if (!f) return;
    if (f.annotations === undefined || f.annotations === null) return;
    assert.equal(typeof f.annotations, 'object');
    for (const [k, v] of Object.entries(f.annotations)) {
      assert.ok(k.length > 0, 'empty key');
      assert.equal(typeof v, 'string', `value of ${k}`);
    }
  },
);

check('features.hooks', 'features.md#hooks', 'every hook the document names is run', async (env, t) => {
  const f = await features(env, t);
  if (!f) return;
  if (!Array.isArray(f.hooks)) return t.skip('the document lists no hooks');
  const log = env.dir('hooklog', 0o777);
  const cfg = shConfig('exec sleep 600');
  cfg.mounts.push({ destination: '/run', type: 'none', source: log, options: ['bind', 'rw'] });
  cfg.hooks = {};
  for (const h of f.hooks) {
    const dir = h === 'startContainer' ? '/run' : log;
    cfg.hooks[h] = [{ path: '/bin/sh', args: ['sh', '-c', `echo ${h} >> ${dir}/log`] }];
  }
  const c = await env.started(cfg);
  assertOk(await env.rt.kill(c.id, 'KILL'), 'kill');
  await env.waitStatus(c.id, 'stopped');
  assertOk(await env.rt.delete(c.id), 'delete');
  const ran = fs.readFileSync(path.join(log, 'log'), 'utf8').split('\n').filter(Boolean);
  assert.deepEqual([...new Set(ran)].sort(), [...f.hooks].sort());
});

check(
  'features.mount-options',
  'features.md#mount-options',
  'every mount option the document names is accepted',
  async (env, t) => {
    const f = await features(env, t);
    if (!f) return;
    if (!Array.isArray(f.mountOptions)) return t.skip('the document lists no mount options');
    const refused = [];
    for (const o of f.mountOptions) {
      if (o === 'idmap' || o === 'ridmap') continue; // these need mappings; see config.md checks
      const cfg = shConfig('true');
      const src = env.dir('src');
      if (o === 'bind' || o === 'rbind')
        cfg.mounts.push({ destination: '/run', type: 'none', source: src, options: [o] });
      else if (o === 'remount')
        cfg.mounts.push(
          { destination: '/run', type: 'tmpfs', source: 'tmpfs' },
          { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['remount', 'ro'] },
        );
      else cfg.mounts.push({ destination: '/run', type: 'tmpfs', source: 'tmpfs', options: [o] });
      const r = await env.inside(cfg, null);
      if (r.code !== 0) refused.push(`${o} (${r.stderr.trim().split('\n').pop().slice(-160)})`);
    }
    assert.deepEqual(refused, []);
  },
);

check(
  'features.namespaces',
  'features-linux.md#namespaces',
  'every namespace type the document names can be created',
  async (env, t) => {
    const f = await features(env, t);
    if (!f) return;
    if (!Array.isArray(f.linux?.namespaces)) return t.skip('the document lists no namespaces');
    const refused = [];
    for (const ns of f.linux.namespaces) {
      const cfg = setNamespace(shConfig('true'), ns);
      if (ns === 'user') {
        cfg.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
        cfg.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      }
      const r = await env.inside(cfg, null);
      if (r.code !== 0) refused.push(`${ns}: ${describe(r)}`);
    }
    assert.deepEqual(refused, []);
  },
);

check(
  'features.capabilities',
  'features-linux.md#capabilities',
  'every capability the document names can be granted (those the caller holds)',
  async (env, t) => {
    const f = await features(env, t);
    if (!f) return;
    if (!Array.isArray(f.linux?.capabilities)) return t.skip('the document lists no capabilities');
    const caps = f.linux.capabilities.filter((c) => heldCaps().includes(c));
    const cfg = shConfig('cat /proc/self/status');
    cfg.process.capabilities = { bounding: caps, effective: caps, permitted: caps, inheritable: [] };
    const s = parseStatus(await env.insideOk(cfg, null));
    assert.equal(s.CapBnd, capMask(caps));
  },
);

check(
  'features.seccomp-actions',
  'features-linux.md#seccomp',
  'every seccomp action the document names is accepted',
  async (env, t) => {
    const f = await features(env, t);
    if (!f) return;
    const actions = f.linux?.seccomp?.actions;
    if (!Array.isArray(actions)) return t.skip('the document lists no seccomp actions');
    const refused = [];
    for (const action of actions) {
      if (action === 'SCMP_ACT_NOTIFY') continue; // needs a listener socket
      const cfg = shConfig('true');
      cfg.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mknodat'], action }] };
      const r = await env.inside(cfg, null);
      if (r.code !== 0) refused.push(`${action}: ${r.stderr.trim().slice(-160)}`);
    }
    assert.deepEqual(refused, []);
  },
);

check(
  'features.seccomp-operators',
  'features-linux.md#seccomp',
  'every seccomp operator the document names is accepted',
  async (env, t) => {
    const f = await features(env, t);
    if (!f) return;
    const ops = f.linux?.seccomp?.operators;
    if (!Array.isArray(ops)) return t.skip('the document lists no seccomp operators');
    const cfg = shConfig('echo ok');
    cfg.linux.seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: ops.map((op) => ({
        names: ['mknodat'],
        action: 'SCMP_ACT_ERRNO',
        args: [{ index: 3, value: 12345, valueTwo: 12345, op }],
      })),
    };
    assert.equal(await env.insideOk(cfg, null), 'ok\n');
  },
);

const BIG_ENDIAN = new Set([
  'SCMP_ARCH_MIPS',
  'SCMP_ARCH_MIPS64',
  'SCMP_ARCH_MIPS64N32',
  'SCMP_ARCH_PPC',
  'SCMP_ARCH_PPC64',
  'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X',
  'SCMP_ARCH_PARISC',
  'SCMP_ARCH_PARISC64',
  'SCMP_ARCH_M68K',
  'SCMP_ARCH_SHEB',
]);

check(
  'features.seccomp-archs',
  'features-linux.md#seccomp',
  'every seccomp architecture the document names is accepted (those of the host byte order)',
  async (env, t) => {
    const f = await features(env, t);
    if (!f) return;
    const archs = f.linux?.seccomp?.archs;
    if (!Array.isArray(archs)) return t.skip('the document lists no seccomp architectures');
    const refused = [];
    // One seccomp filter holds architectures of one byte order (libseccomp refuses to mix them
    // with EDOM), so only the archs that can share a filter with this little-endian host are run.
    for (const arch of archs.filter((a) => !BIG_ENDIAN.has(a))) {
      const cfg = shConfig('echo ok');
      cfg.linux.seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW',
        architectures: [arch],
        syscalls: [{ names: ['mknodat'], action: 'SCMP_ACT_ERRNO' }],
      };
      const r = await env.inside(cfg, null);
      if (r.code !== 0) refused.push(`${arch}: ${r.stderr.trim().slice(-120)}`);
    }
    assert.deepEqual(refused, []);
  },
);

check(
  'features.seccomp-flags',
  'features-linux.md#seccomp',
  'every seccomp flag in supportedFlags is accepted',
  async (env, t) => {
    const f = await features(env, t);
    if (!f) return;
    const flags = f.linux?.seccomp?.supportedFlags;
    if (!Array.isArray(flags)) return t.skip('the document lists no supported seccomp flags');
    const cfg = shConfig('echo ok');
    cfg.linux.seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      flags,
      syscalls: [{ names: ['mknodat'], action: 'SCMP_ACT_ERRNO' }],
    };
    assert.equal(await env.insideOk(cfg, null), 'ok\n');
  },
);
