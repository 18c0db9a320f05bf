// Rootless on a production-like host (issue 18's rootless item, issue 23 item 1 in the guest): a
// user the test makes (useradd, /etc/subuid, /etc/subgid) with lingering on, so logind starts
// its user@ service: the user's own systemd, with a delegated cgroup v2 subtree and a user bus
// (dbus-user-session). The runtime (husk, or RUNTIME=/usr/sbin/runc | /usr/bin/crun) runs as
// that user:
// - with --systemd-cgroup: the user's systemd makes the container's scope and the limits land
//   in it (and are enforced: a memory hog is OOM-killed, fork past pids.max fails);
// - with the cgroupfs driver, from a scope the user asks its systemd for with Delegate=yes
//   (systemd-run --user --scope -p Delegate=yes), the same limits, made and enforced by the
//   runtime itself in the delegated subtree.
// Only in the throwaway guest (HUSK_GUEST=1): lingering a user starts services.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO, ROOTFS, SKIP as RL_SKIP, asUser, makeUser, show, waitFor } from '../rootless/lib.mjs';

const RUNTIME = process.env.RUNTIME ? path.resolve(process.env.RUNTIME) : path.join(REPO, 'bin', 'husk');
const NAME = path.basename(RUNTIME);
const MiB = 1024 * 1024;

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000, ...opts });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function whyNot() {
  if (!process.env.HUSK_GUEST)
    return 'starts a user@ service for a user it makes: only in the guest (HUSK_GUEST=1)';
  if (RL_SKIP) return RL_SKIP;
  if (fs.readFileSync('/proc/1/comm', 'utf8').trim() !== 'systemd') return 'PID 1 is not systemd';
  if (!fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) return 'not a cgroup v2 host';
  for (const [cmd, pkg] of [
    ['loginctl', 'systemd'],
    ['systemd-run', 'systemd'],
  ])
    if (sh('sh', ['-c', `command -v ${cmd}`]).code !== 0) return `no ${cmd} (apt package ${pkg})`;
  if (!fs.existsSync('/usr/lib/systemd/user/dbus.socket'))
    return 'no user bus for the user systemd (apt package dbus-user-session)';
  return false;
}
const SKIP = whyNot();

const S = { user: null, env: null, cgroup: null };

// The user's environment for its systemd: the runtime dir logind made, the user bus in it.
function run(argv, opts = {}) {
  return asUser(S.user, argv, { timeout: 120_000, ...opts, env: { ...S.env, ...(opts.env ?? {}) } });
}
const userCgroup = () => path.join('/sys/fs/cgroup', S.cgroup);

// A bundle of the user's (spec --rootless, as the user, so the maps name the user's ids).
function bundle(t, args, resources, cgroupsPath) {
  const dir = fs.mkdtempSync('/tmp/husk-guest-rl-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755);
  fs.chownSync(dir, S.user.uid, S.user.gid);
  const r = run([path.join(REPO, 'bin', 'husk'), 'spec', '--rootless', '--bundle', dir]);
  assert.equal(r.code, 0, `husk spec --rootless: ${show(r)}`);
  const file = path.join(dir, 'config.json');
  const c = JSON.parse(fs.readFileSync(file, 'utf8'));
  // crun 1.8.1 knows runtime-spec versions up to 1.1 only.
  if (NAME === 'crun') c.ociVersion = '1.0.2';
  c.process.terminal = false;
  c.process.args = args;
  c.root = { path: ROOTFS, readonly: true };
  c.linux.resources = resources;
  c.linux.cgroupsPath = cgroupsPath;
  fs.writeFileSync(file, JSON.stringify(c, null, 2));
  fs.chownSync(file, S.user.uid, S.user.gid);
  return dir;
}

const HOG = 'tail /dev/zero';
const FORKS = 'i=0; while [ $i -lt 12 ]; do sleep 30 & i=$((i+1)); echo $i; done';
const forksStarted = (r) => r.stdout.split('\n').filter(Boolean).length;

describe(
  `${NAME}, rootless as a user with its own systemd (user@ service, delegated cgroup v2)`,
  { skip: SKIP },
  () => {
    before(async () => {
      S.user = makeUser();
      const r = sh('loginctl', ['enable-linger', S.user.name]);
      assert.equal(r.code, 0, `loginctl enable-linger: ${r.stderr}`);
      const service = `user@${S.user.uid}.service`;
      const bus = path.join(S.user.xdg, 'bus');
      await waitFor(
        () => sh('systemctl', ['is-active', service]).stdout.trim() === 'active' && fs.existsSync(bus),
        `${service} active with its bus at ${bus}`,
        120_000,
      );
      S.env = { XDG_RUNTIME_DIR: S.user.xdg, DBUS_SESSION_BUS_ADDRESS: `unix:path=${bus}` };
      // The user manager runs in <its service's cgroup>/init.scope.
      const mainPid = sh('systemctl', ['show', '-p', 'MainPID', '--value', service]).stdout.trim();
      S.cgroup = fs
        .readFileSync(`/proc/${mainPid}/cgroup`, 'utf8')
        .trim()
        .split('\n')
        .find((l) => l.startsWith('0::'))
        .slice(3)
        .replace(/\/init\.scope$/, '');
    });

    after(() => {
      if (!S.user) return;
      sh('loginctl', ['disable-linger', S.user.name]);
      sh('loginctl', ['terminate-user', S.user.name]);
      sh('systemctl', ['stop', `user@${S.user.uid}.service`, `user-runtime-dir@${S.user.uid}.service`]);
      S.user.remove();
    });

    test('the user manager delegates memory and pids to the user', () => {
      const ctl = fs.readFileSync(path.join(userCgroup(), 'cgroup.controllers'), 'utf8').split(/\s+/);
      for (const c of ['memory', 'pids']) assert.ok(ctl.includes(c), `${c} not delegated: ${ctl.join(' ')}`);
      assert.equal(fs.statSync(userCgroup()).uid, S.user.uid, `${userCgroup()} not owned by the user`);
    });

    test('--systemd-cgroup: the user systemd makes the scope; the limits land and are enforced', async (t) => {
      const marker = crypto.randomBytes(3).toString('hex');
      const id = `rlsd-${marker}`;
      const unit = `huskguest-${marker}.scope`;
      const res = { memory: { limit: 64 * MiB }, pids: { limit: 32 } };
      const b = bundle(t, ['sleep', '600'], res, `user.slice:huskguest:${marker}`);
      t.after(() => run([RUNTIME, '--systemd-cgroup', 'delete', '--force', id]));
      const c = run([RUNTIME, '--systemd-cgroup', 'create', '--bundle', b, id]);
      assert.equal(c.code, 0, `create: ${show(c)}`);
      const pid = JSON.parse(run([RUNTIME, 'state', id]).stdout).pid;
      const line = fs
        .readFileSync(`/proc/${pid}/cgroup`, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('0::'));
      const dir = path.join('/sys/fs/cgroup', line.slice(3));
      assert.ok(dir.startsWith(userCgroup() + '/'), `${dir} is not below ${userCgroup()}`);
      assert.equal(fs.readFileSync(path.join(dir, 'memory.max'), 'utf8').trim(), String(64 * MiB));
      assert.equal(fs.readFileSync(path.join(dir, 'pids.max'), 'utf8').trim(), '32');
      const p = run([
        'systemctl',
        '--user',
        'show',
        unit,
        '-p',
        'ActiveState',
        '-p',
        'MemoryMax',
        '-p',
        'TasksMax',
      ]);
      const props = Object.fromEntries(
        p.stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split('=')),
      );
      assert.deepEqual(
        props,
        { ActiveState: 'active', MemoryMax: String(64 * MiB), TasksMax: '32' },
        show(p),
      );
      const d = run([RUNTIME, '--systemd-cgroup', 'delete', '--force', id]);
      assert.equal(d.code, 0, show(d));
      await waitFor(() => !fs.existsSync(dir), `${dir} removed`, 10_000);

      const runIt = (name, script, r) => {
        const bb = bundle(t, ['sh', '-c', script], r, `user.slice:huskguest:${marker}${name}`);
        const rid = `${id}-${name}`;
        t.after(() => run([RUNTIME, '--systemd-cgroup', 'delete', '--force', rid]));
        return run([RUNTIME, '--systemd-cgroup', 'run', '--bundle', bb, rid]);
      };
      const hog = runIt('oom', HOG, { memory: { limit: 16 * MiB, swap: 16 * MiB } });
      assert.equal(hog.code, 137, `the hog should die of SIGKILL: ${show(hog)}`);
      const forks = runIt('pids', FORKS, { pids: { limit: 6 } });
      assert.ok(forksStarted(forks) < 12 && forksStarted(forks) >= 1, `pids.max 6: ${show(forks)}`);
    });

    // Issue 23: rootless podman with limits. podman runs the runtime in its user namespace as
    // uid 0 with --systemd-cgroup; the runtime must talk to the user's systemd (not the
    // system's), on the user's bus, as the user the bus knows.
    test('rootless podman --cgroup-manager systemd run --memory --pids-limit: the limits land', (t) => {
      if (!fs.existsSync('/usr/bin/podman')) return t.skip('podman is not installed (apt package podman)');
      const dir = fs.mkdtempSync('/tmp/husk-guest-rl-podman-');
      fs.chmodSync(dir, 0o755);
      const own = (d) => {
        fs.mkdirSync(d, { recursive: true });
        fs.chownSync(d, S.user.uid, S.user.gid);
        return d;
      };
      const home = own(path.join(dir, 'home'));
      // prettier-ignore
      const base = [
        '--root', own(path.join(dir, 'root')), '--runroot', own(path.join(dir, 'runroot')),
        '--tmpdir', own(path.join(dir, 'tmp')), '--events-backend', 'file',
        '--cgroup-manager', 'systemd', '--runtime', RUNTIME,
      ];
      const podman = (args) => run(['podman', ...base, ...args], { env: { HOME: home } });
      t.after(() => {
        podman(['rm', '-a', '-f', '-t', '0']);
        podman(['system', 'reset', '-f']);
        for (const l of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').reverse()) {
          const mp = l.split(' ')[4];
          if (mp && mp.startsWith(dir + '/')) spawnSync('umount', ['-l', mp]);
        }
        fs.rmSync(dir, { recursive: true, force: true });
      });
      const tar = path.join(dir, 'rootfs.tar');
      assert.equal(
        sh('tar', ['--numeric-owner', '-C', ROOTFS, '-cf', tar, '.']).code,
        0,
        'tar of the rootfs',
      );
      fs.chmodSync(tar, 0o644);
      const imp = podman(['import', '-q', tar, 'localhost/husk-rl-limits:test']);
      assert.equal(imp.code, 0, `podman import: ${show(imp)}`);
      const r = podman([
        'run', '--rm', '--network', 'none', '--memory', '64m', '--pids-limit', '32',
        'localhost/husk-rl-limits:test', 'sh', '-c', 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max',
      ]); // prettier-ignore
      assert.equal(r.code, 0, `podman run --memory --pids-limit: ${show(r)}`);
      assert.equal(r.stdout, `${64 * MiB}\n32\n`, show(r));
      const hog = podman([
        'run', '--rm', '--network', 'none', '--memory', '16m', '--memory-swap', '16m',
        'localhost/husk-rl-limits:test', 'sh', '-c', HOG,
      ]); // prettier-ignore
      assert.equal(hog.code, 137, `the hog should die of SIGKILL: ${show(hog)}`);
    });

    test('cgroupfs in a scope the user asked for with Delegate=yes: limits made and enforced', (t) => {
      // The scope holds the launching shell; a process may not sit in a cgroup that passes
      // controllers down, so the shell moves itself to a leaf first (as runc's users do).
      const marker = crypto.randomBytes(3).toString('hex');
      const runIn = (name, args, res) => {
        const b = bundle(t, args, res, '@CG@/ctr');
        const id = `rlfs-${marker}-${name}`;
        const script = [
          'set -e',
          'cg=$(sed -n "s/^0:://p" /proc/self/cgroup)',
          'mkdir "/sys/fs/cgroup$cg/launch"',
          'echo $$ >"/sys/fs/cgroup$cg/launch/cgroup.procs"',
          `sed -i "s|@CG@|$cg|" "${b}/config.json"`,
          'echo "cgroup: $cg" >&2',
          'rc=0',
          `"${RUNTIME}" run --bundle "${b}" ${id} || rc=$?`,
          `"${RUNTIME}" delete --force ${id} 2>/dev/null || true`,
          'exit $rc',
        ].join('\n');
        return run(['systemd-run', '--user', '--scope', '-p', 'Delegate=yes', '--quiet', 'sh', '-c', script]);
      };
      const ok = runIn(
        'read',
        [
          'sh',
          '-c',
          'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max 2>/dev/null || cat /proc/self/cgroup',
        ],
        { memory: { limit: 64 * MiB }, pids: { limit: 32 } },
      );
      assert.equal(ok.code, 0, show(ok));
      assert.equal(ok.stdout, `${64 * MiB}\n32\n`, show(ok));
      const hog = runIn('oom', ['sh', '-c', HOG], { memory: { limit: 16 * MiB, swap: 16 * MiB } });
      assert.equal(hog.code, 137, `the hog should die of SIGKILL: ${show(hog)}`);
      const forks = runIn('pids', ['sh', '-c', FORKS], { pids: { limit: 6 } });
      assert.ok(forksStarted(forks) < 12 && forksStarted(forks) >= 1, `pids.max 6: ${show(forks)}`);
    });
  },
);
