// config-linux.md: namespaces, user namespace mappings, devices, cgroups, sysctl, seccomp,
// rootfs propagation, masked and read-only paths, personality, intelRdt.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { check, assertOk, describe } from '../lib/harness.mjs';
import { shConfig, setNamespace, withoutNamespace, tmpfs, bind } from '../lib/config.mjs';
import { nsOf, parseMountinfo, mountAt, cgroupDirOf, readOr } from '../lib/host.mjs';

const LONG = shConfig('exec sleep 600');

/** readlink /proc/self/ns/<type> inside a container made from cfg. */
async function nsInside(env, cfg, type) {
  return (await env.insideOk(cfg, `readlink /proc/self/ns/${type}`)).trim();
}

// --- Namespaces --------------------------------------------------------------------------

const NS_TYPES = [
  // [config type, /proc/self/ns name]
  ['pid', 'pid'],
  ['network', 'net'],
  ['ipc', 'ipc'],
  ['uts', 'uts'],
  ['mount', 'mnt'],
  ['cgroup', 'cgroup'],
];

for (const [type, link] of NS_TYPES) {
  check(
    `ns.${type}-new`,
    'config-linux.md#namespaces',
    `a ${type} namespace without path is a new namespace`,
    async (env) => {
      const cfg = setNamespace(shConfig('true'), type);
      assert.notEqual(await nsInside(env, cfg, link), nsOf('self', link));
    },
  );
  if (type === 'mount') continue; // inheriting the host mount namespace would pivot the host's root
  check(
    `ns.${type}-inherit`,
    'config-linux.md#namespaces',
    `without a ${type} entry the container stays in the runtime's ${type} namespace`,
    async (env) => {
      const cfg = withoutNamespace(shConfig('true'), type);
      if (type === 'uts') delete cfg.hostname;
      assert.equal(await nsInside(env, cfg, link), nsOf('self', link));
    },
  );
}

check(
  'ns.user-new',
  'config-linux.md#namespaces',
  'a user namespace without path is a new namespace',
  async (env) => {
    assert.notEqual(await nsInside(env, userns(shConfig('true')), 'user'), nsOf('self', 'user'));
  },
);

check(
  'ns.user-inherit',
  'config-linux.md#namespaces',
  "without a user entry the container stays in the runtime's user namespace",
  async (env) => {
    assert.equal(await nsInside(env, shConfig('true'), 'user'), nsOf('self', 'user'));
  },
);

check(
  'ns.pid-isolated',
  'config-linux.md#namespaces',
  'in a new pid namespace the program is pid 1 and sees only the container processes',
  async (env) => {
    const out = await env.insideOk(shConfig('echo $$; ls /proc | grep -c "^[0-9]"'), null);
    const [pid, count] = out.trim().split('\n').map(Number);
    assert.equal(pid, 1);
    assert.ok(count <= 3, `${count} processes visible`);
  },
);

check(
  'ns.network-isolated',
  'config-linux.md#namespaces',
  'a new network namespace has only a loopback device',
  async (env) => {
    const out = await env.insideOk(shConfig('ls /sys/class/net'), null);
    assert.equal(out.trim(), 'lo');
  },
);

check(
  'ns.cgroup-isolated',
  'config-linux.md#namespaces',
  'in a new cgroup namespace the container sees its cgroups as the root',
  async (env) => {
    const cfg = setNamespace(shConfig('cat /proc/self/cgroup'), 'cgroup');
    const lines = (await env.insideOk(cfg, null)).trim().split('\n');
    for (const l of lines) assert.equal(l.split(':').slice(2).join(':'), '/', `line ${l}`);
  },
);

check(
  'ns.time-new',
  'config-linux.md#namespaces',
  'a time namespace without path is a new namespace (or an error if unsupported)',
  async (env) => {
    const cfg = setNamespace(shConfig('readlink /proc/self/ns/time'), 'time');
    const r = await env.inside(cfg, null);
    if (r.code !== 0) return; // a runtime that does not support time namespaces must refuse them
    assert.notEqual(r.stdout.trim(), nsOf('self', 'time'));
  },
);

/** A running container to join: hostname "holder". */
async function holder(env) {
  const cfg = structuredClone(LONG);
  cfg.hostname = 'holder';
  return env.started(cfg, { tag: 'holder' });
}

for (const [type, link] of [
  ['uts', 'uts'],
  ['network', 'net'],
  ['ipc', 'ipc'],
  ['pid', 'pid'],
]) {
  check(
    `ns.${type}-join-path`,
    'config-linux.md#namespaces',
    `a ${type} namespace with path joins that namespace`,
    async (env) => {
      const h = await holder(env);
      const cfg = setNamespace(shConfig(`readlink /proc/self/ns/${link}; hostname; echo $$`), type, {
        path: `/proc/${h.pid}/ns/${link}`,
      });
      if (type === 'uts') delete cfg.hostname;
      const [ns, hostname, pid] = (await env.insideOk(cfg, null)).trim().split('\n');
      assert.equal(ns, nsOf(h.pid, link));
      if (type === 'uts') assert.equal(hostname, 'holder');
      if (type === 'pid') assert.notEqual(pid, '1', 'a second process in a pid namespace is not pid 1');
    },
  );
}

check(
  'ns.path-wrong-type',
  'config-linux.md#namespaces',
  'a path to a namespace of another type is an error',
  async (env) => {
    const h = await holder(env);
    const cfg = setNamespace(shConfig('true'), 'ipc', { path: `/proc/${h.pid}/ns/uts` });
    await env.createOrStartFails(cfg, 'ipc namespace path naming a uts namespace');
  },
);

check(
  'ns.path-missing',
  'config-linux.md#namespaces',
  'a namespace path that does not exist is an error',
  async (env) => {
    const cfg = setNamespace(shConfig('true'), 'network', { path: env.path('no-such-netns') });
    await env.createOrStartFails(cfg, 'network namespace path that does not exist');
  },
);

check(
  'ns.duplicate-type',
  'config-linux.md#namespaces',
  'two namespaces of the same type is an error',
  async (env) => {
    const cfg = shConfig('true');
    cfg.linux.namespaces.push({ type: 'uts' });
    await env.createOrStartFails(cfg, 'uts namespace listed twice');
  },
);

// --- User namespace mappings ---------------------------------------------------------------

const HOST_ID = 100000;

function userns(cfg, hostID = HOST_ID) {
  setNamespace(cfg, 'user');
  cfg.linux.uidMappings = [{ containerID: 0, hostID, size: 65536 }];
  cfg.linux.gidMappings = [{ containerID: 0, hostID: hostID + 70000, size: 65536 }];
  return cfg;
}

const mapOf = (text) => text.trim().split(/\s+/).map(Number);

check(
  'userns.uid-mappings',
  'config-linux.md#user-namespace-mappings',
  'uidMappings become the uid_map of the user namespace',
  async (env) => {
    const out = await env.insideOk(userns(shConfig('cat /proc/self/uid_map')), null);
    assert.deepEqual(mapOf(out), [0, HOST_ID, 65536]);
  },
);

check(
  'userns.gid-mappings',
  'config-linux.md#user-namespace-mappings',
  'gidMappings become the gid_map of the user namespace',
  async (env) => {
    const out = await env.insideOk(userns(shConfig('cat /proc/self/gid_map')), null);
    assert.deepEqual(mapOf(out), [0, HOST_ID + 70000, 65536]);
  },
);

check(
  'userns.host-ids',
  'config-linux.md#user-namespace-mappings',
  'container uid/gid 0 act as the mapped host ids (a file the container makes)',
  async (env) => {
    const vol = env.dir('vol', 0o777);
    const cfg = userns(shConfig('id -u; echo x > /run/made'));
    cfg.mounts.push(bind(vol, '/run', ['bind', 'rw']));
    assert.equal(await env.insideOk(cfg, null), '0\n');
    const st = fs.statSync(path.join(vol, 'made'));
    assert.deepEqual([st.uid, st.gid], [HOST_ID, HOST_ID + 70000]);
  },
);

// --- Devices -----------------------------------------------------------------------------

const STAT = "stat -c '%F %t:%T %a %u %g'";
const hex = (n) => n.toString(16);

check(
  'devices.char',
  'config-linux.md#devices',
  'a "c" device is made with its major and minor',
  async (env) => {
    const cfg = shConfig(`${STAT} /dev/hc-kmsg`);
    cfg.linux.devices = [{ path: '/dev/hc-kmsg', type: 'c', major: 1, minor: 11 }];
    assert.match(await env.insideOk(cfg, null), /^character special file 1:b /);
  },
);

check(
  'devices.block',
  'config-linux.md#devices',
  'a "b" device is made with its major and minor',
  async (env) => {
    const cfg = shConfig(`${STAT} /dev/hc-loop`);
    cfg.linux.devices = [{ path: '/dev/hc-loop', type: 'b', major: 7, minor: 200 }];
    assert.match(await env.insideOk(cfg, null), new RegExp(`^block special file 7:${hex(200)} `));
  },
);

check('devices.fifo', 'config-linux.md#devices', 'a "p" device is a FIFO', async (env) => {
  const cfg = shConfig(`${STAT} /dev/hc-fifo`);
  cfg.linux.devices = [{ path: '/dev/hc-fifo', type: 'p' }];
  assert.match(await env.insideOk(cfg, null), /^fifo /);
});

check('devices.file-mode', 'config-linux.md#devices', 'fileMode is the mode of the device', async (env) => {
  const cfg = shConfig(`${STAT} /dev/hc-kmsg`);
  cfg.linux.devices = [{ path: '/dev/hc-kmsg', type: 'c', major: 1, minor: 11, fileMode: 0o604 }];
  assert.match(await env.insideOk(cfg, null), /^character special file 1:b 604 /);
});

check('devices.owner', 'config-linux.md#devices', 'uid and gid are the owner of the device', async (env) => {
  const cfg = shConfig(`${STAT} /dev/hc-kmsg`);
  cfg.linux.devices = [
    { path: '/dev/hc-kmsg', type: 'c', major: 1, minor: 11, fileMode: 0o600, uid: 1234, gid: 4321 },
  ];
  assert.match(await env.insideOk(cfg, null), / 1234 4321\n$/);
});

check('devices.outside-dev', 'config-linux.md#devices', 'a device path may be outside /dev', async (env) => {
  const cfg = shConfig(`${STAT} /hc-kmsg`);
  cfg.linux.devices = [{ path: '/hc-kmsg', type: 'c', major: 1, minor: 11 }];
  assert.match(await env.insideOk(cfg, null, { copy: true, readonly: true }), /^character special file 1:b /);
});

check(
  'devices.usable',
  'config-linux.md#devices',
  'a listed device is available: it can be opened',
  async (env) => {
    const cfg = shConfig('[ -c /dev/hc-kmsg ] && (: > /dev/hc-kmsg) && echo opened');
    cfg.linux.devices = [{ path: '/dev/hc-kmsg', type: 'c', major: 1, minor: 11, fileMode: 0o600 }];
    cfg.linux.resources.devices.push({ allow: true, type: 'c', major: 1, minor: 11, access: 'rw' });
    assert.equal(await env.insideOk(cfg, null), 'opened\n');
  },
);

check(
  'devices.conflicting-file',
  'config-linux.md#devices',
  'a device path where another kind of file exists is an error',
  async (env) => {
    const cfg = shConfig('true');
    cfg.linux.devices = [{ path: '/etc/passwd', type: 'c', major: 1, minor: 11 }];
    await env.createOrStartFails(cfg, 'device at /etc/passwd', { copy: true, readonly: true });
  },
);

// Each default device: a character device with the usual numbers, usable by a non-root user.
const DEFAULT_DEVICES = [
  ['null', 1, 3, 'echo x > /dev/null && wc -c < /dev/null', '0\n'],
  ['zero', 1, 5, 'head -c 4 /dev/zero | od -An -tx1', ' 00 00 00 00\n'],
  ['full', 1, 7, 'echo x > /dev/full; echo rc=$?', 'rc=1\n'],
  ['random', 1, 8, 'head -c 16 /dev/random | wc -c', '16\n'],
  ['urandom', 1, 9, 'head -c 16 /dev/urandom | wc -c', '16\n'],
  ['tty', 5, 0, null, null],
];

for (const [name, major, minor, use, want] of DEFAULT_DEVICES) {
  check(
    `devices.default-${name}`,
    'config-linux.md#default-devices',
    `/dev/${name} is supplied (char ${major}:${minor}, usable by a non-root user)`,
    async (env) => {
      const cfg = shConfig(`stat -c '%F %t:%T' /dev/${name}${use ? `; ${use}` : ''}`);
      cfg.process.user = { uid: 1000, gid: 1000 };
      const out = await env.insideOk(cfg, null);
      const [first, ...rest] = out.split('\n');
      assert.equal(first, `character special file ${hex(major)}:${hex(minor)}`);
      if (want !== null) assert.equal(rest.join('\n'), want);
    },
  );
}

check(
  'devices.default-ptmx',
  'config-linux.md#default-devices',
  "/dev/ptmx is the container's /dev/pts/ptmx (bind mount or symlink)",
  async (env) => {
    const out = await env.insideOk(shConfig("stat -L -c '%d:%i' /dev/ptmx /dev/pts/ptmx"), null);
    const [a, b] = out.trim().split('\n');
    assert.equal(a, b);
  },
);

// --- Control groups ----------------------------------------------------------------------

let cgSeq = 0;
function withCgroup(env, cfg, resources = {}) {
  cfg.linux.cgroupsPath = env.cgroup(`/hc-cg-${process.pid}-${++cgSeq}-${Date.now() % 100000}`);
  cfg.linux.resources = { ...cfg.linux.resources, ...resources };
  return cfg;
}

/** Reads a cgroup file of a container process: v1 name on v1/hybrid hosts, v2 name on unified ones. */
function cgroupFile(pid, controller, v1, v2) {
  const d = cgroupDirOf(pid, controller);
  assert.ok(d, `no ${controller} controller for pid ${pid}: ${readOr(`/proc/${pid}/cgroup`)}`);
  const file = path.join(d.dir, d.version === 1 ? v1 : v2);
  return { version: d.version, value: readOr(file, `(missing ${file})`).trim() };
}

check(
  'cgroups.path-absolute',
  'config-linux.md#cgroups-path',
  'an absolute cgroupsPath is taken relative to the cgroup mount point',
  async (env) => {
    const cfg = withCgroup(env, structuredClone(LONG));
    const c = await env.create(cfg);
    for (const ctrl of ['memory', 'pids']) {
      const d = cgroupDirOf(c.pid, ctrl);
      assert.ok(d, `no ${ctrl} cgroup`);
      assert.equal(d.path, cfg.linux.cgroupsPath, `${ctrl} cgroup of the container`);
      assert.ok(fs.existsSync(d.dir), `${d.dir} does not exist`);
    }
  },
);

check(
  'cgroups.memory-limit',
  'config-linux.md#memory',
  'memory.limit is the memory limit of the cgroup',
  async (env) => {
    const c = await env.create(
      withCgroup(env, structuredClone(LONG), { memory: { limit: 64 * 1024 * 1024 } }),
    );
    assert.equal(
      cgroupFile(c.pid, 'memory', 'memory.limit_in_bytes', 'memory.max').value,
      String(64 * 1024 * 1024),
    );
  },
);

check(
  'cgroups.memory-reservation',
  'config-linux.md#memory',
  'memory.reservation is the soft limit of the cgroup',
  async (env) => {
    const c = await env.create(
      withCgroup(env, structuredClone(LONG), {
        memory: { limit: 64 * 1024 * 1024, reservation: 32 * 1024 * 1024 },
      }),
    );
    assert.equal(
      cgroupFile(c.pid, 'memory', 'memory.soft_limit_in_bytes', 'memory.low').value,
      String(32 * 1024 * 1024),
    );
  },
);

check(
  'cgroups.pids-limit',
  'config-linux.md#pids',
  'pids.limit is the pids limit of the cgroup',
  async (env) => {
    const c = await env.create(withCgroup(env, structuredClone(LONG), { pids: { limit: 42 } }));
    assert.equal(cgroupFile(c.pid, 'pids', 'pids.max', 'pids.max').value, '42');
  },
);

check(
  'cgroups.pids-enforced',
  'config-linux.md#pids',
  'the container cannot have more tasks than pids.limit',
  async (env) => {
    const cfg = withCgroup(env, shConfig('for i in 1 2 3 4 5 6 7 8; do sleep 1 & done 2>&1; wait'), {
      pids: { limit: 4 },
    });
    const r = await env.inside(cfg, null);
    assert.match(r.stdout + r.stderr, /fork|Resource temporarily unavailable/i, describe(r));
  },
);

check(
  'cgroups.cpu-shares',
  'config-linux.md#cpu',
  'cpu.shares is the cpu weight of the cgroup',
  async (env) => {
    const c = await env.create(withCgroup(env, structuredClone(LONG), { cpu: { shares: 512 } }));
    const f = cgroupFile(c.pid, 'cpu', 'cpu.shares', 'cpu.weight');
    // On cgroup v2 the runtime converts shares to a weight: 1 + ((512 - 2) * 9999) / 262142 = 20.
    assert.equal(f.value, f.version === 1 ? '512' : '20');
  },
);

check(
  'cgroups.cpu-quota',
  'config-linux.md#cpu',
  'cpu.quota and cpu.period are the CFS bandwidth of the cgroup',
  async (env) => {
    const c = await env.create(
      withCgroup(env, structuredClone(LONG), { cpu: { quota: 25000, period: 100000 } }),
    );
    const d = cgroupDirOf(c.pid, 'cpu');
    assert.ok(d, 'no cpu cgroup');
    if (d.version === 1) {
      assert.equal(readOr(path.join(d.dir, 'cpu.cfs_quota_us'))?.trim(), '25000');
      assert.equal(readOr(path.join(d.dir, 'cpu.cfs_period_us'))?.trim(), '100000');
    } else {
      assert.equal(readOr(path.join(d.dir, 'cpu.max'))?.trim(), '25000 100000');
    }
  },
);

check(
  'cgroups.cpuset',
  'config-linux.md#cpu',
  'cpu.cpus restricts the CPUs the container runs on',
  async (env) => {
    const cfg = withCgroup(env, shConfig('grep Cpus_allowed_list /proc/self/status'), {
      cpu: { cpus: '0', mems: '0' },
    });
    assert.match(await env.insideOk(cfg, null), /^Cpus_allowed_list:\s+0\n$/);
  },
);

// The device node comes in as a bind mount of the host's /dev/kmsg, not as a linux.devices entry
// (which a runtime may allow on its own, to make it "available"), so that only the allowed-device
// list decides. Opening /dev/kmsg for writing needs no capability.
// The open runs in a subshell: a failed redirection on ":" would end the shell itself.
const OPEN_KMSG =
  'if [ -c /dev/hc-kmsg ]; then (: > /dev/hc-kmsg) && echo opened || echo refused; else echo no-device; fi';

check(
  'cgroups.devices-deny',
  'config-linux.md#allowed-device-list',
  'a device not in the allowed list cannot be opened',
  async (env) => {
    const cfg = withCgroup(env, shConfig(OPEN_KMSG));
    cfg.mounts.push(bind('/dev/kmsg', '/dev/hc-kmsg'));
    const r = await env.inside(cfg, null);
    assertOk(r, 'run');
    assert.equal(r.stdout, 'refused\n');
    assert.match(r.stderr, /Operation not permitted/);
  },
);

check(
  'cgroups.devices-allow',
  'config-linux.md#allowed-device-list',
  'a device allowed after a deny-all entry can be opened',
  async (env) => {
    const cfg = withCgroup(env, shConfig(OPEN_KMSG));
    cfg.mounts.push(bind('/dev/kmsg', '/dev/hc-kmsg'));
    cfg.linux.resources.devices = [
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 1, minor: 11, access: 'w' },
    ];
    assert.equal(await env.insideOk(cfg, null), 'opened\n');
  },
);

check(
  'cgroups.devices-order',
  'config-linux.md#allowed-device-list',
  'allowed-list entries apply in the listed order (the later of allow/deny wins)',
  async (env) => {
    const allow = { allow: true, type: 'c', major: 1, minor: 11, access: 'w' };
    const deny = { allow: false, type: 'c', major: 1, minor: 11, access: 'w' };
    for (const [rules, want] of [
      [[allow, deny], 'refused'],
      [[deny, allow], 'opened'],
    ]) {
      const cfg = withCgroup(env, shConfig(OPEN_KMSG));
      cfg.mounts.push(bind('/dev/kmsg', '/dev/hc-kmsg'));
      cfg.linux.resources.devices = [{ allow: false, access: 'rwm' }, ...rules];
      assert.equal(await env.insideOk(cfg, null), `${want}\n`, `rules ${JSON.stringify(rules)}`);
    }
  },
);

check(
  'cgroups.unified-unknown-controller',
  'config-linux.md#unified',
  'unified settings for a controller that is not there are an error',
  async (env) => {
    const cfg = withCgroup(env, shConfig('true'));
    cfg.linux.resources.unified = { 'hcnosuchcontroller.max': '1' };
    await env.createOrStartFails(cfg, 'unified hcnosuchcontroller.max');
  },
);

check(
  'cgroups.keeps-foreign-cgroup',
  'runtime.md#delete',
  'delete does not remove a cgroup that existed before create',
  async (env) => {
    const cfg = withCgroup(env, shConfig('exit 0'));
    const pidsRoot = cgroupDirOf(process.pid, 'pids');
    assert.ok(pidsRoot, 'no pids controller on this host');
    const mount = pidsRoot.dir.slice(
      0,
      pidsRoot.dir.length - (pidsRoot.path === '/' ? 0 : pidsRoot.path.length),
    );
    const mine = path.join(mount, cfg.linux.cgroupsPath);
    fs.mkdirSync(mine);
    try {
      const c = await env.started(cfg);
      await env.waitStatus(c.id, 'stopped');
      assertOk(await env.rt.delete(c.id), 'delete');
      assert.ok(fs.existsSync(mine), `delete removed the pre-existing cgroup ${mine}`);
    } finally {
      try {
        fs.rmdirSync(mine);
      } catch {}
    }
  },
);

// --- Sysctl ------------------------------------------------------------------------------

check(
  'sysctl.net',
  'config-linux.md#sysctl',
  'a net.* sysctl is set in the container network namespace only',
  async (env) => {
    const host = readOr('/proc/sys/net/ipv4/ip_forward').trim();
    const want = host === '1' ? '0' : '1';
    const cfg = shConfig('cat /proc/sys/net/ipv4/ip_forward');
    cfg.linux.sysctl = { 'net.ipv4.ip_forward': want };
    assert.equal(await env.insideOk(cfg, null), `${want}\n`);
    assert.equal(readOr('/proc/sys/net/ipv4/ip_forward').trim(), host, 'the host value changed');
  },
);

check(
  'sysctl.net-core',
  'config-linux.md#sysctl',
  'net.core.somaxconn is set in the container',
  async (env) => {
    const cfg = shConfig('cat /proc/sys/net/core/somaxconn');
    cfg.linux.sysctl = { 'net.core.somaxconn': '1234' };
    assert.equal(await env.insideOk(cfg, null), '1234\n');
  },
);

check(
  'sysctl.ipc',
  'config-linux.md#sysctl',
  'a kernel.shm* sysctl is set in the container IPC namespace',
  async (env) => {
    const host = readOr('/proc/sys/kernel/shmmax').trim();
    const cfg = shConfig('cat /proc/sys/kernel/shmmax');
    cfg.linux.sysctl = { 'kernel.shmmax': '67108864' };
    assert.equal(await env.insideOk(cfg, null), '67108864\n');
    assert.equal(readOr('/proc/sys/kernel/shmmax').trim(), host, 'the host value changed');
  },
);

check('sysctl.unknown', 'config-linux.md#sysctl', 'a sysctl that does not exist is an error', async (env) => {
  const cfg = shConfig('true');
  cfg.linux.sysctl = { 'net.ipv4.hc_no_such_sysctl': '1' };
  await env.createOrStartFails(cfg, 'sysctl net.ipv4.hc_no_such_sysctl');
});

// --- Seccomp -----------------------------------------------------------------------------

function seccomp(cfg, syscalls, extra = {}) {
  cfg.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls, ...extra };
  cfg.mounts.push(tmpfs('/tmp'));
  return cfg;
}

check(
  'seccomp.errno',
  'config-linux.md#seccomp',
  'SCMP_ACT_ERRNO makes the listed syscalls fail with EPERM by default',
  async (env) => {
    const cfg = seccomp(
      shConfig(
        'grep ^Seccomp: /proc/self/status; mkdir /tmp/d; echo mkdir=$?; touch /tmp/f && echo touch-ok',
      ),
      [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }],
    );
    const r = await env.inside(cfg, null);
    assertOk(r, 'run');
    assert.match(r.stdout, /^Seccomp:\s+2\nmkdir=1\ntouch-ok\n$/);
    assert.match(r.stderr, /Operation not permitted/);
  },
);

check(
  'seccomp.errno-ret',
  'config-linux.md#seccomp',
  'errnoRet is the errno a blocked syscall returns',
  async (env) => {
    const cfg = seccomp(shConfig('mkdir /tmp/d; echo mkdir=$?'), [
      { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 28 },
    ]);
    const r = await env.inside(cfg, null);
    assert.equal(r.stdout, 'mkdir=1\n', describe(r));
    assert.match(r.stderr, /No space left on device/);
  },
);

check('seccomp.names', 'config-linux.md#seccomp', 'every syscall in names is matched', async (env) => {
  const cfg = seccomp(shConfig('ln -s a /tmp/l; echo symlink=$?; touch /tmp/f; rm /tmp/f; echo unlink=$?'), [
    { names: ['symlink', 'symlinkat', 'unlink', 'unlinkat'], action: 'SCMP_ACT_ERRNO' },
  ]);
  const r = await env.inside(cfg, null);
  assert.equal(r.stdout, 'symlink=1\nunlink=1\n', describe(r));
});

check(
  'seccomp.args',
  'config-linux.md#seccomp',
  'args conditions select which calls match (chmod to 0777 only)',
  async (env) => {
    const cfg = seccomp(
      shConfig(
        'touch /tmp/f; chmod 777 /tmp/f; echo 777=$?; chmod 750 /tmp/f; echo 750=$?; stat -c %a /tmp/f',
      ),
      [
        { names: ['chmod'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 0o777, op: 'SCMP_CMP_EQ' }] },
        {
          names: ['fchmodat'],
          action: 'SCMP_ACT_ERRNO',
          args: [{ index: 2, value: 0o777, op: 'SCMP_CMP_EQ' }],
        },
      ],
    );
    const r = await env.inside(cfg, null);
    assert.equal(r.stdout, '777=1\n750=0\n750\n', describe(r));
  },
);

check(
  'seccomp.kill',
  'config-linux.md#seccomp',
  'SCMP_ACT_KILL kills the process that makes the syscall',
  async (env) => {
    const cfg = seccomp(shConfig('mkdir /tmp/d; echo mkdir=$?'), [
      { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_KILL' },
    ]);
    const r = await env.inside(cfg, null);
    // 128 + SIGSYS (31): the mkdir child was killed; the shell lives on.
    assert.equal(r.stdout, 'mkdir=159\n', describe(r));
  },
);

check(
  'seccomp.architectures',
  'config-linux.md#seccomp',
  'a filter with architectures still blocks the listed syscalls',
  async (env) => {
    const cfg = seccomp(
      shConfig('mkdir /tmp/d; echo mkdir=$?'),
      [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }],
      {
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      },
    );
    const r = await env.inside(cfg, null);
    assert.equal(r.stdout, 'mkdir=1\n', describe(r));
  },
);

/** Every syscall name of this host's table (from linux-libc-dev), or null. */
function hostSyscalls() {
  const table = `/usr/include/${process.arch === 'x64' ? 'x86_64' : process.arch}-linux-gnu/asm/unistd_64.h`;
  const text = readOr(table);
  return text ? [...text.matchAll(/^#define __NR_(\w+)\s+\d+/gm)].map((m) => m[1]) : null;
}

for (const [id, errnoRet, message] of /** @type {Array<[string, number | undefined, RegExp]>} */ ([
  ['seccomp.default-action', undefined, /Operation not permitted/],
  ['seccomp.default-errno-ret', 28, /No space left on device/],
])) {
  check(
    id,
    'config-linux.md#seccomp',
    `defaultAction applies to the syscalls no rule names${errnoRet ? ', with defaultErrnoRet' : ''}`,
    async (env, t) => {
      const all = hostSyscalls();
      if (!all) return t.skip('no syscall table (linux-libc-dev) to build an allow-list from');
      // Allow every syscall but mkdir and mkdirat, which fall to the default action.
      const cfg = seccomp(shConfig('mkdir /tmp/d; echo mkdir=$?; touch /tmp/f && echo touch-ok'), [
        { names: all.filter((n) => n !== 'mkdir' && n !== 'mkdirat'), action: 'SCMP_ACT_ALLOW' },
      ]);
      cfg.linux.seccomp.defaultAction = 'SCMP_ACT_ERRNO';
      if (errnoRet) cfg.linux.seccomp.defaultErrnoRet = errnoRet;
      const r = await env.inside(cfg, null);
      assert.equal(r.stdout, 'mkdir=1\ntouch-ok\n', describe(r));
      assert.match(r.stderr, message);
    },
  );
}

check(
  'seccomp.errno-ret-unsupported',
  'config-linux.md#seccomp',
  'errnoRet on an action without an errno is an error',
  async (env) => {
    const cfg = seccomp(shConfig('true'), [{ names: ['mkdir'], action: 'SCMP_ACT_KILL', errnoRet: 1 }]);
    await env.createOrStartFails(cfg, 'errnoRet with SCMP_ACT_KILL');
  },
);

check(
  'seccomp.default-errno-ret-unsupported',
  'config-linux.md#seccomp',
  'defaultErrnoRet with a defaultAction without an errno is an error',
  async (env) => {
    const cfg = seccomp(shConfig('true'), [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }], {
      defaultErrnoRet: 1,
    });
    await env.createOrStartFails(cfg, 'defaultErrnoRet with SCMP_ACT_ALLOW');
  },
);

// --- Rootfs mount propagation -------------------------------------------------------------

/**
 * A bundle whose rootfs (a copy) is a mount point of its own on the host, like the overlay mounts
 * engines give runtimes; with shared true that mount is shared, so that propagation between the
 * host and the container can be seen. Returns the bundle dir.
 */
function mountedRootfsBundle(env, cfg, shared) {
  const b = env.bundle(cfg, { copy: true, readonly: true });
  const rootfs = path.join(b, 'rootfs');
  env.hostMount(['--bind', rootfs], rootfs);
  if (shared) execFileSync('mount', ['--make-shared', rootfs]);
  return b;
}

async function rootMountOf(env, value, opts = {}) {
  const cfg = shConfig('cat /proc/self/mountinfo');
  cfg.linux.rootfsPropagation = value;
  const bundle = opts.mountpoint ? mountedRootfsBundle(env, cfg, false) : undefined;
  return mountAt(parseMountinfo(await env.insideOk(cfg, null, { bundle })), '/');
}

const isShared = (m) => m.optional.some((o) => o.startsWith('shared:'));

check(
  'propagation.shared',
  'config-linux.md#rootfs-mount-propagation',
  'rootfsPropagation "shared" makes the root mount shared (rootfs a plain directory)',
  async (env) => {
    const root = await rootMountOf(env, 'shared');
    assert.ok(isShared(root), `optional fields of /: ${root.optional}`);
  },
);

check(
  'propagation.shared-mountpoint',
  'config-linux.md#rootfs-mount-propagation',
  'rootfsPropagation "shared" makes the root mount shared (rootfs a mount point)',
  async (env) => {
    const root = await rootMountOf(env, 'shared', { mountpoint: true });
    assert.ok(isShared(root), `optional fields of /: ${root.optional}`);
  },
);

check(
  'propagation.private',
  'config-linux.md#rootfs-mount-propagation',
  'rootfsPropagation "private" makes the root mount private',
  async (env) => {
    const root = await rootMountOf(env, 'private');
    assert.deepEqual(
      root.optional.filter((o) => /^(shared|master):/.test(o)),
      [],
    );
  },
);

check(
  'propagation.unbindable',
  'config-linux.md#rootfs-mount-propagation',
  'rootfsPropagation "unbindable" makes the root mount unbindable',
  async (env) => {
    const root = await rootMountOf(env, 'unbindable', { mountpoint: true });
    assert.ok(root.optional.includes('unbindable'), `optional fields of /: ${root.optional}`);
  },
);

for (const [value, seen] of [
  ['slave', true],
  ['private', false],
]) {
  check(
    `propagation.${value}-host-events`,
    'config-linux.md#rootfs-mount-propagation',
    `with rootfsPropagation "${value}" a mount made on the host ${seen ? 'appears' : 'does not appear'} in the container`,
    async (env) => {
      const cfg = shConfig('cat /run/marker 2>/dev/null || echo none; cat /proc/self/mountinfo');
      cfg.linux.rootfsPropagation = value;
      const b = mountedRootfsBundle(env, cfg, true);
      const c = await env.create(cfg, { bundle: b });
      env.hostMount(['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs'], path.join(b, 'rootfs', 'run'));
      fs.writeFileSync(path.join(b, 'rootfs', 'run', 'marker'), 'from the host\n');
      assertOk(await env.rt.start(c.id), 'start');
      await env.waitStatus(c.id, 'stopped');
      const [first, ...rest] = env.rt.output(c.id).stdout.split('\n');
      assert.equal(first, seen ? 'from the host' : 'none');
      if (value === 'slave') {
        const root = mountAt(parseMountinfo(rest.join('\n')), '/');
        assert.ok(
          root.optional.some((o) => o.startsWith('master:')),
          `optional fields of /: ${root.optional}`,
        );
      }
    },
  );
}

// --- Masked and read-only paths -----------------------------------------------------------

check(
  'masked.file',
  'config-linux.md#masked-paths',
  'a masked file cannot be read (reads nothing)',
  async (env) => {
    const cfg = shConfig('wc -c < /etc/passwd');
    assert.notEqual(await env.insideOk(cfg, null), '0\n', 'the file is empty without masking');
    cfg.linux.maskedPaths = ['/etc/passwd'];
    assert.equal(await env.insideOk(cfg, null), '0\n');
  },
);

check(
  'masked.directory',
  'config-linux.md#masked-paths',
  'a masked directory shows no entries',
  async (env) => {
    const cfg = shConfig('ls /usr/bin | wc -l');
    assert.notEqual(await env.insideOk(cfg, null), '0\n', 'the directory is empty without masking');
    cfg.linux.maskedPaths = ['/usr/bin'];
    assert.equal(await env.insideOk(cfg, null), '0\n');
  },
);

check('masked.proc', 'config-linux.md#masked-paths', 'a masked /proc file cannot be read', async (env) => {
  const cfg = shConfig('wc -c < /proc/timer_list');
  cfg.linux.maskedPaths = [];
  assert.notEqual(await env.insideOk(cfg, null), '0\n', '/proc/timer_list is empty without masking');
  cfg.linux.maskedPaths = ['/proc/timer_list'];
  assert.equal(await env.insideOk(cfg, null), '0\n');
});

check(
  'readonly.proc-sys',
  'config-linux.md#readonly-paths',
  'a read-only /proc/sys cannot be written',
  async (env) => {
    const cfg = shConfig('echo 1 > /proc/sys/net/ipv4/ip_forward; echo rc=$?');
    cfg.process.capabilities.bounding.push('CAP_NET_ADMIN');
    cfg.process.capabilities.effective.push('CAP_NET_ADMIN');
    cfg.process.capabilities.permitted.push('CAP_NET_ADMIN');
    cfg.linux.readonlyPaths = [];
    assert.equal(await env.insideOk(cfg, null), 'rc=0\n', 'the write fails even without readonlyPaths');
    cfg.linux.readonlyPaths = ['/proc/sys'];
    const r = await env.inside(cfg, null);
    assert.equal(r.stdout, 'rc=1\n', describe(r));
    assert.match(r.stderr, /Read-only file system/);
  },
);

check(
  'readonly.directory',
  'config-linux.md#readonly-paths',
  'a read-only directory cannot be written; others can',
  async (env) => {
    const cfg = shConfig('touch /home/x; echo home=$?; touch /root/x; echo root=$?');
    cfg.linux.readonlyPaths = ['/home'];
    const r = await env.inside(cfg, null, { copy: true });
    assert.equal(r.stdout, 'home=1\nroot=0\n', describe(r));
    assert.match(r.stderr, /Read-only file system/);
  },
);

check(
  'readonly.file',
  'config-linux.md#readonly-paths',
  'a read-only file cannot be written',
  async (env) => {
    const cfg = shConfig('echo x >> /etc/group; echo rc=$?');
    cfg.linux.readonlyPaths = ['/etc/group'];
    const r = await env.inside(cfg, null, { copy: true });
    assert.equal(r.stdout, 'rc=1\n', describe(r));
  },
);

// --- Personality, Intel RDT ---------------------------------------------------------------

check(
  'personality.linux32',
  'config-linux.md#personality',
  'personality LINUX32 makes uname report a 32-bit machine (or is refused)',
  async (env) => {
    const cfg = shConfig('uname -m');
    cfg.linux.personality = { domain: 'LINUX32' };
    const r = await env.inside(cfg, null);
    if (r.code !== 0) return; // refusing an unsupported value is allowed
    assert.match(r.stdout.trim(), /^i[3-6]86$/, `uname -m: ${r.stdout.trim()}`);
  },
);

check(
  'intelrdt.no-resctrl',
  'config-linux.md#intelrdt',
  'intelRdt without a mounted resctrl filesystem is an error',
  async (env, t) => {
    if (parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).some((m) => m.fstype === 'resctrl'))
      return t.skip('resctrl is mounted on this host');
    const cfg = shConfig('true');
    cfg.linux.intelRdt = { closID: 'hc-conformance' };
    await env.createOrStartFails(cfg, 'intelRdt without resctrl');
  },
);
