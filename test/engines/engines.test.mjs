// husk under real container engines, side by side with runc (the reference): podman 4.3 (conmon),
// containerd 1.6 (ctr, io.containerd.runc.v2 shim) and dockerd 20.10 (over that containerd),
// as Debian 12 ships them (scripts/install-test-deps.sh installs them). Each recipe runs twice, as
// "<engine> <operation> [husk]" and "<engine> <operation> [runc]".
//
// Everything runs in a private temp dir: podman's --root/--runroot/--tmpdir, containerd's
// root/state/socket, dockerd's data-root/exec-root/socket, and the runtimes' --root where the
// engine lets us choose it. The runtimes are called through logging wrappers (argv, cwd, exit
// code and, on failure, the last line of the runtime's --log file), and a failing test prints
// the runtime calls it made. At the end the daemons are stopped and everything is removed:
// containers, images, mounts, cgroups, temp dirs.
//
// Known husk failures are marked todo (see KNOWN below).
//
// HUSK_ENGINES_CGROUP=systemd runs every engine with systemd's cgroup driver (podman
// --cgroup-manager systemd, dockerd --exec-opt native.cgroupdriver=systemd, ctr
// --runc-systemd-cgroup), which needs systemd as PID 1 (the guest, test/guest/);
// HUSK_ENGINES_RUNTIMES=husk,runc picks runtimes (default: husk, husk-server, runc).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  callsSince,
  cgroupDirs,
  describeResult,
  existing,
  formatCall,
  logSize,
  ENGINE_BINS,
  ENGINE_HOST_PATHS,
  RUNTIME_DEFAULT_ROOTS,
  pidsMentioning,
  privateContainerdConfig,
  removeNewCgroups,
  run,
  startDaemon,
  stopDaemon,
  tail,
  unmountUnder,
  waitFor,
  writeWrapper,
} from './lib.mjs';
import { makeOciArchive } from './oci-archive.mjs';
import { startHuskServer } from '../lib/husk-server.mjs';
import { TIMEOUT_SCALE } from '../lib/core.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const HUSK = path.join(REPO, 'bin', 'husk');
const RUNC = '/usr/sbin/runc';
const {
  podman: PODMAN,
  conmon: CONMON,
  containerd: CONTAINERD,
  ctr: CTR,
  shim: SHIM,
  dockerd: DOCKERD,
} = ENGINE_BINS;
// The daemon's own client: /usr/local/bin/docker on these machines is a newer one (ENGINES.md).
const DOCKER = '/usr/bin/docker';
const SCRIPT = '/usr/bin/script';

// Stretched under TCG (TIMEOUT_SCALE): one `podman run` makes five or six runtime calls.
const SCALE = TIMEOUT_SCALE;
const SUBTEST_TIMEOUT = 30_000 * SCALE;
const CMD_TIMEOUT = 20_000 * SCALE;
const CTR_NS = 'husk-engines';

const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
const have = (...files) => files.every((f) => fs.existsSync(f));
const INSTALL = 'run `sh scripts/install-test-deps.sh` (as root) to install it';

const skipAll = !IS_ROOT
  ? 'the engine tests need root (podman/containerd/dockerd as root): sudo node --test test/engines/'
  : !have('/bin/busybox') && !have('/usr/bin/busybox')
    ? 'no busybox for the test image: run `sh scripts/install-test-deps.sh` (as root) to install busybox-static'
    : false;
const skipPodman = skipAll || (!have(PODMAN, CONMON) ? `podman/conmon not installed: ${INSTALL}` : false);
const skipContainerd =
  skipAll || (!have(CONTAINERD, CTR, SHIM) ? `containerd not installed: ${INSTALL}` : false);
const skipDocker =
  skipContainerd ||
  (!have(DOCKERD, DOCKER) ? `docker.io (dockerd, ${DOCKER}) not installed: ${INSTALL}` : false);

const CGROUP_DRIVER = process.env.HUSK_ENGINES_CGROUP || 'cgroupfs';
const skipDriver =
  CGROUP_DRIVER === 'systemd' && !fs.existsSync('/run/systemd/system')
    ? 'HUSK_ENGINES_CGROUP=systemd: systemd is not running on this host'
    : !['systemd', 'cgroupfs'].includes(CGROUP_DRIVER)
      ? `HUSK_ENGINES_CGROUP=${CGROUP_DRIVER}: systemd or cgroupfs`
      : false;

const ALL_RUNTIMES = [
  {
    name: 'husk',
    real: HUSK,
    skip: !fs.existsSync(path.join(REPO, 'dist', 'husk.js'))
      ? 'husk is not built: run `npm run build:ts && npm run build:bundle`'
      : false,
  },
  // The same bin/husk with a husk server of the suite's own: every call the server can run goes
  // through it (the wrapper points HUSK_SERVER_DIR at it; the engines pass no environment).
  {
    name: 'husk-server',
    real: HUSK,
    server: true,
    skip: !fs.existsSync(path.join(REPO, 'dist', 'husk.js'))
      ? 'husk is not built: run `npm run build:ts && npm run build:bundle`'
      : false,
  },
  { name: 'runc', real: RUNC, skip: !fs.existsSync(RUNC) ? `${RUNC} not installed: ${INSTALL}` : false },
];
const RUNTIMES = process.env.HUSK_ENGINES_RUNTIMES
  ? ALL_RUNTIMES.filter((rt) => process.env.HUSK_ENGINES_RUNTIMES.split(',').includes(rt.name))
  : ALL_RUNTIMES;

// Husk failures that runc does not have, found by these tests. The key is "<engine> <operation>".
const KNOWN = {};

// ---------------------------------------------------------------------------------------------
// Suite state

const S = {
  tmp: null,
  rootfsTar: null,
  wrappers: {}, // runtime name → { path, log }
  containerd: null, // { daemon, sock, dir }
  dockerd: null, // { daemon, sock, dir }
  hostPaths: null, // paths outside tmp that the engines may create, and whether they existed
  cgroupsBefore: null,
  seq: 0,
  server: null, // the husk server of the husk-server runs
};

const HOST_PATHS = ENGINE_HOST_PATHS;
const RUNTIME_ROOTS = RUNTIME_DEFAULT_ROOTS;

function uniq(prefix) {
  return `${prefix}-${process.pid}-${++S.seq}`;
}

function wrapper(rt) {
  return S.wrappers[rt].path;
}

// ---------------------------------------------------------------------------------------------
// One test = one recipe on one runtime, with its own cleanups and the runtime calls it made.

function engineTest(engine, op, rt, fn, opts = {}) {
  const known = rt.name !== 'runc' ? KNOWN[`${engine} ${op}`] : undefined;
  test(
    `${engine} ${op} [${rt.name}]`,
    { timeout: opts.timeout ?? SUBTEST_TIMEOUT, skip: rt.skip || opts.skip, todo: known },
    async (t) => {
      const log = S.wrappers[rt.name].log;
      const mark = logSize(log);
      const cleanups = [];
      const defer = (f) => cleanups.push(f);
      t.after(async () => {
        for (const f of cleanups.reverse()) {
          try {
            await f();
          } catch (e) {
            t.diagnostic(`cleanup: ${e.message}`);
          }
        }
      });
      try {
        await fn({ t, rt: rt.name, defer });
        for (const c of callsSince(log, mark).filter((c) => c.rc !== 0 && c.rc !== null))
          t.diagnostic(`non-zero runtime call (the engine went on): ${formatCall(c)}`);
      } catch (e) {
        const calls = callsSince(log, mark);
        for (const c of calls) t.diagnostic(`runtime call: ${formatCall(c)}`);
        const failed = calls.find((c) => c.rc !== 0 && c.rc !== null);
        if (failed) t.diagnostic(`first failing runtime call: ${formatCall(failed)}`);
        throw e;
      }
    },
  );
}

function succeeded(r, what = 'command') {
  assert.ok(r.code === 0 && !r.timedOut, `${what} failed:\n${describeResult(r)}`);
  return r;
}

// The container's cgroup (v1 hierarchy `controller`, or the v2 one) of a host pid.
function cgroupDir(pid, controller) {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const v1 = lines.find((l) => l.split(':')[1].split(',').includes(controller));
  if (v1) return path.join('/sys/fs/cgroup', controller, v1.split(':')[2]);
  const v2 = lines.find((l) => l.startsWith('0::'));
  const base = fs.existsSync('/sys/fs/cgroup/unified') ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup';
  return path.join(base, v2.slice(3));
}

function frozen(pid) {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  if (/^\d+:freezer:/m.test(lines))
    return fs.readFileSync(path.join(cgroupDir(pid, 'freezer'), 'freezer.state'), 'utf8').trim();
  const events = fs.readFileSync(path.join(cgroupDir(pid, 'freezer'), 'cgroup.events'), 'utf8');
  return /^frozen 1$/m.test(events) ? 'FROZEN' : 'THAWED';
}

// Inside the container: the memory / pids limit of its own cgroup, v1 or v2.
const CAT_MEMORY_LIMIT =
  'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max';
const CAT_PIDS_MAX = 'cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max';
// --cpus 0.5: quota and period, v1 or v2.
const CAT_CPU_MAX =
  'if [ -f /sys/fs/cgroup/cpu.max ]; then cat /sys/fs/cgroup/cpu.max; else echo "$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"; fi';
const CPU_MAX_HALF = '50000 100000';

// Where the engine's cgroup driver put the container: a systemd scope (".scope" at the end of
// its cgroup path) with the systemd driver, a plain directory with cgroupfs.
function assertDriverPlaced(pid) {
  const v2 = fs
    .readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => /^\d+:(memory|):/.test(l) && (l.startsWith('0::') || l.includes(':memory:')));
  const where = v2.slice(v2.lastIndexOf(':') + 1);
  if (CGROUP_DRIVER === 'systemd') assert.match(where, /\.scope$/, `not in a systemd scope: ${where}`);
  else assert.doesNotMatch(where, /\.scope$/, `cgroupfs driver, yet in a scope: ${where}`);
}

const shq = (s) => `'${String(s).replaceAll("'", `'\\''`)}'`;

// runc's default device rules (issue 23 item 3): any node may be made (c *:* m, b *:* m) and
// /dev/net/tun (c 10:200) opened, whatever the engine's own rules. Opening the new tun node is
// refused with EPERM only by the devices cgroup (no tun module would be ENODEV).
const MKNOD_SCRIPT = [
  'mknod /tmp/m c 1 1 && echo mknod=ok',
  'mknod /tmp/b b 7 0 && echo mknod-b=ok',
  'mknod /tmp/tun c 10 200',
  'if { true <>/tmp/tun; } 2>/tmp/err; then echo tun=open; else echo "tun=$(cat /tmp/err)"; fi',
].join('; ');

function assertMknod(r) {
  assert.match(r.stdout, /^mknod=ok$/m, describeResult(r));
  assert.match(r.stdout, /^mknod-b=ok$/m, describeResult(r));
  assert.match(r.stdout, /^tun=/m, describeResult(r));
  assert.doesNotMatch(r.stdout, /^tun=.*Operation not permitted/m, describeResult(r));
}

// ---------------------------------------------------------------------------------------------
// Suite setup and teardown

describe(`engines (${CGROUP_DRIVER} cgroup driver)`, { skip: skipAll || skipDriver }, () => {
  before(async () => {
    S.hostPaths = existing(HOST_PATHS);
    S.cgroupsBefore = cgroupDirs();
    S.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-engines-'));
    const { ensureRootfs } = await import(path.join(REPO, 'scripts', 'ensure-rootfs.mjs'));
    const rootfs = ensureRootfs(path.join(S.tmp, 'rootfs'));
    S.rootfsTar = path.join(S.tmp, 'rootfs.tar');
    execFileSync('tar', [
      '--numeric-owner',
      '--exclude=./.husk-rootfs',
      '-C',
      rootfs,
      '-cf',
      S.rootfsTar,
      '.',
    ]);
    fs.mkdirSync(path.join(S.tmp, 'wrap'));
    if (RUNTIMES.some((rt) => rt.server && !rt.skip)) S.server = await startHuskServer();
    for (const rt of RUNTIMES) {
      const p = path.join(S.tmp, 'wrap', rt.name);
      const log = path.join(S.tmp, `calls-${rt.name}.log`);
      writeWrapper(p, rt.real, log, rt.server ? { HUSK_SERVER_DIR: S.server.dir } : {});
      S.wrappers[rt.name] = { path: p, log };
    }
  });

  after(async () => {
    if (!S.tmp) return;
    // Stopped first: once the engines are gone nothing calls it. A server that ran none of the
    // calls means the husk-server runs tested the Node CLI again.
    if (S.server) {
      const tally = await S.server.stop();
      if (!tally.served) throw new Error(`the husk server served no call: ${tally.log}`);
    }
    if (S.dockerd) {
      await run(DOCKER, ['-H', `unix://${S.dockerd.sock}`, 'rm', '-f', ...(await dockerIds())], {
        timeout: 30_000,
      }).catch(() => {});
      await stopDaemon(S.dockerd.daemon);
    }
    if (S.containerd) await stopDaemon(S.containerd.daemon);
    // Whatever is left that mentions our temp dir (shims, conmon, container processes started
    // from our bundles) was started by this suite.
    for (let i = 0; i < 2; i++) {
      const pids = pidsMentioning(S.tmp);
      if (!pids.length) break;
      for (const pid of pids) {
        try {
          const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 200);
          console.error(`test/engines: killing leftover process ${pid}: ${cmd}`);
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      await sleep(300);
    }
    unmountUnder(S.tmp);
    fs.rmSync(S.tmp, { recursive: true, force: true });
    for (const p of HOST_PATHS) {
      if (S.hostPaths.has(p)) continue;
      // The runtimes' default roots: only if nothing but their caches is in there (another suite
      // may have started using them meanwhile).
      if (RUNTIME_ROOTS.includes(p) && fs.existsSync(p) && fs.readdirSync(p).some((e) => !e.startsWith('.')))
        continue;
      fs.rmSync(p, { recursive: true, force: true });
    }
    const left = removeNewCgroups(S.cgroupsBefore, ['libpod_parent', 'docker', 'machine.slice'], [CTR_NS]);
    if (left.length) console.error(`test/engines: cgroups left behind: ${left.join(' ')}`);
  });

  // -------------------------------------------------------------------------------------------
  // podman

  describe('podman', { skip: skipPodman }, () => {
    const IMAGE = 'localhost/husk-engines:test';
    let base;
    const podman = (rt, args, opts) =>
      run(PODMAN, [...base, '--runtime', wrapper(rt), ...args], { timeout: CMD_TIMEOUT, ...opts });
    const RUN = ['--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
    const rmf = (rt, name) => () => podman(rt, ['rm', '-f', '-t', '0', name]);

    before(async () => {
      const dir = path.join(S.tmp, 'podman');
      // prettier-ignore
      base = [
        '--root', path.join(dir, 'root'),
        '--runroot', path.join(dir, 'runroot'),
        '--tmpdir', path.join(dir, 'tmp'),
        '--cgroup-manager', CGROUP_DRIVER,
        '--events-backend', 'file',
      ];
      succeeded(
        await run(PODMAN, [...base, 'import', '-q', S.rootfsTar, IMAGE], { timeout: 60_000 }),
        'podman import',
      );
    });

    after(async () => {
      if (!base) return;
      await run(PODMAN, [...base, 'rm', '-a', '-f', '-t', '0'], { timeout: 60_000 });
      await run(PODMAN, [...base, 'rmi', '-a', '-f'], { timeout: 60_000 });
      await run(PODMAN, [...base, 'system', 'reset', '-f'], { timeout: 60_000 });
    });

    // A detached `sleep` container for the recipes that need a running one.
    async function detached(rt, defer) {
      const name = uniq('he-podman');
      defer(rmf(rt, name));
      succeeded(
        await podman(rt, ['run', '-d', '--name', name, ...RUN, IMAGE, 'sleep', '1000']),
        'podman run -d',
      );
      const pid = Number(
        succeeded(await podman(rt, ['inspect', '--format', '{{.State.Pid}}', name])).stdout.trim(),
      );
      assert.ok(pid > 0, `no pid for ${name}`);
      return { name, pid };
    }

    // `podman run --rm IMAGE ARGS…` → the result (not checked).
    async function runRm(rt, defer, flags, args) {
      const name = uniq('he-podman');
      defer(rmf(rt, name));
      return podman(rt, ['run', '--rm', '--name', name, ...RUN, ...flags, IMAGE, ...args]);
    }

    for (const rt of RUNTIMES) {
      engineTest('podman', 'run --rm echo', rt, async ({ rt, defer }) => {
        const r = succeeded(await runRm(rt, defer, [], ['echo', 'hi']), 'podman run --rm echo hi');
        assert.equal(r.stdout, 'hi\n');
      });

      engineTest('podman', 'run -d/exec/stop/rm', rt, async ({ rt, defer }) => {
        const { name } = await detached(rt, defer);
        const e = succeeded(await podman(rt, ['exec', name, 'echo', 'from-exec']), 'podman exec');
        assert.equal(e.stdout, 'from-exec\n');
        succeeded(await podman(rt, ['stop', '-t', '2', name]), 'podman stop');
        const st = succeeded(
          await podman(rt, ['inspect', '--format', '{{.State.Status}}', name]),
        ).stdout.trim();
        assert.equal(st, 'exited');
        succeeded(await podman(rt, ['rm', name]), 'podman rm');
        const ls = succeeded(await podman(rt, ['ps', '-a', '--format', '{{.Names}}']));
        assert.ok(!ls.stdout.split('\n').includes(name), `${name} still listed after rm`);
      });

      engineTest(
        'podman',
        'exec -t',
        rt,
        async ({ rt, defer }) => {
          const { name } = await detached(rt, defer);
          // No tty in the test runner: script(1) gives podman one.
          const cmd = [PODMAN, ...base, '--runtime', wrapper(rt), 'exec', '-t', name, 'tty']
            .map(shq)
            .join(' ');
          const r = succeeded(
            await run(SCRIPT, ['-qec', cmd, '/dev/null'], { timeout: CMD_TIMEOUT }),
            'podman exec -t',
          );
          assert.match(r.stdout, /\/dev\/pts\/\d+/);
        },
        { skip: !fs.existsSync(SCRIPT) ? `no ${SCRIPT} (bsdutils) to give podman a tty` : false },
      );

      engineTest('podman', 'exit code', rt, async ({ rt, defer }) => {
        const r = await runRm(rt, defer, [], ['sh', '-c', 'exit 3']);
        assert.equal(r.code, 3, describeResult(r));
      });

      // Ten short-lived containers in a row: the recipe that shows the start race most often.
      engineTest('podman', 'run --rm true x10', rt, async ({ rt, defer }) => {
        const failed = [];
        for (let i = 0; i < 10; i++) {
          const r = await runRm(rt, defer, [], ['true']);
          if (r.code !== 0) failed.push(r);
        }
        assert.equal(
          failed.length,
          0,
          `${failed.length}/10 runs failed; the first:\n${failed[0] && describeResult(failed[0])}`,
        );
      });

      engineTest('podman', '--memory 64m', rt, async ({ rt, defer }) => {
        const r = succeeded(
          await runRm(rt, defer, ['--memory', '64m'], ['sh', '-c', CAT_MEMORY_LIMIT]),
          'podman run --memory',
        );
        assert.equal(r.stdout.trim(), String(64 * 1024 * 1024));
      });

      engineTest('podman', '--cpus 0.5', rt, async ({ rt, defer }) => {
        const r = succeeded(
          await runRm(rt, defer, ['--cpus', '0.5'], ['sh', '-c', CAT_CPU_MAX]),
          'podman run --cpus',
        );
        assert.equal(r.stdout.trim(), CPU_MAX_HALF);
      });

      engineTest(
        `podman's cgroup driver (${CGROUP_DRIVER})`,
        'places the container',
        rt,
        async ({ rt, defer }) => {
          const { pid } = await detached(rt, defer);
          assertDriverPlaced(pid);
        },
      );

      engineTest('podman', '--pids-limit 50', rt, async ({ rt, defer }) => {
        const r = succeeded(
          await runRm(rt, defer, ['--pids-limit', '50'], ['sh', '-c', CAT_PIDS_MAX]),
          'podman run --pids-limit',
        );
        assert.equal(r.stdout.trim(), '50');
      });

      // podman's default capabilities have no CAP_MKNOD; its rules are a bare deny-all, so what
      // the container may use comes from the runtime's defaults alone.
      engineTest('podman', 'mknod (runc default device rules)', rt, async ({ rt, defer }) => {
        const r = await runRm(rt, defer, ['--cap-add', 'MKNOD'], ['sh', '-c', MKNOD_SCRIPT]);
        succeeded(r, 'podman run --cap-add MKNOD mknod');
        assertMknod(r);
      });

      engineTest('podman', '--read-only', rt, async ({ rt, defer }) => {
        const r = succeeded(
          await runRm(
            rt,
            defer,
            ['--read-only'],
            ['sh', '-c', 'touch /x 2>&1; echo "rc=$?"; grep " / " /proc/mounts'],
          ),
          'podman run --read-only',
        );
        assert.match(r.stdout, /Read-only file system/);
        assert.match(r.stdout, /rc=1/);
        assert.match(r.stdout, / \/ \S+ ro[,\s]/);
      });

      engineTest('podman', '--cap-drop ALL', rt, async ({ rt, defer }) => {
        const r = succeeded(
          await runRm(rt, defer, ['--cap-drop', 'ALL'], ['grep', '^Cap', '/proc/self/status']),
          'podman run --cap-drop ALL',
        );
        assert.match(r.stdout, /^CapEff:\s+0000000000000000$/m);
        assert.match(r.stdout, /^CapPrm:\s+0000000000000000$/m);
      });

      engineTest('podman', 'seccomp=unconfined', rt, async ({ rt, defer }) => {
        const r = succeeded(
          await runRm(
            rt,
            defer,
            ['--security-opt', 'seccomp=unconfined'],
            ['grep', '^Seccomp:', '/proc/self/status'],
          ),
          'podman run --security-opt seccomp=unconfined',
        );
        assert.match(r.stdout, /^Seccomp:\s+0$/m);
      });

      engineTest('podman', 'default seccomp', rt, async ({ rt, defer }) => {
        const r = succeeded(
          await runRm(rt, defer, [], ['grep', '^Seccomp', '/proc/self/status']),
          'podman run (default seccomp)',
        );
        assert.match(r.stdout, /^Seccomp:\s+2$/m); // SECCOMP_MODE_FILTER
        assert.match(r.stdout, /^Seccomp_filters:\s+[1-9]/m);
      });

      engineTest('podman', 'pause/unpause', rt, async ({ rt, defer }) => {
        const { name, pid } = await detached(rt, defer);
        succeeded(await podman(rt, ['pause', name]), 'podman pause');
        assert.equal(
          succeeded(await podman(rt, ['inspect', '--format', '{{.State.Status}}', name])).stdout.trim(),
          'paused',
        );
        assert.equal(frozen(pid), 'FROZEN');
        succeeded(await podman(rt, ['unpause', name]), 'podman unpause');
        assert.equal(
          succeeded(await podman(rt, ['inspect', '--format', '{{.State.Status}}', name])).stdout.trim(),
          'running',
        );
        assert.equal(frozen(pid), 'THAWED');
        succeeded(await podman(rt, ['exec', name, 'true']), 'podman exec after unpause');
      });

      engineTest('podman', 'top', rt, async ({ rt, defer }) => {
        const { name } = await detached(rt, defer);
        const r = succeeded(await podman(rt, ['top', name]), 'podman top');
        assert.match(r.stdout, /sleep 1000/);
      });

      engineTest('podman', 'stats --no-stream', rt, async ({ rt, defer }) => {
        const { name } = await detached(rt, defer);
        const r = succeeded(
          await podman(rt, ['stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}} {{.PIDs}}', name]),
          'podman stats --no-stream',
        );
        const line = r.stdout
          .trim()
          .split('\n')
          .find((l) => l.startsWith(name + ' '));
        assert.ok(line, `no stats line for ${name}:\n${describeResult(r)}`);
        assert.match(line, /\d+(\.\d+)?[kKMG]?i?B \/ /);
        assert.match(line, / 1$/); // one process: sleep
      });
    }
  });

  // -------------------------------------------------------------------------------------------
  // containerd

  async function ensureContainerd() {
    if (S.containerd) return S.containerd;
    const dir = path.join(S.tmp, 'ctd');
    fs.mkdirSync(dir);
    const sock = path.join(dir, 'containerd.sock');
    const cfg = path.join(dir, 'config.toml');
    fs.writeFileSync(cfg, privateContainerdConfig(dir, sock));
    const daemon = startDaemon(CONTAINERD, ['--config', cfg], path.join(dir, 'containerd.log'));
    S.containerd = { daemon, sock, dir };
    await waitFor(
      async () => {
        if (daemon.child.exitCode !== null) throw new Error(`containerd exited:\n${tail(daemon.logFile)}`);
        return (await run(CTR, ['-a', sock, 'version'], { timeout: 5_000 })).code === 0;
      },
      { timeout: 20_000, what: 'containerd' },
    );
    return S.containerd;
  }

  describe('containerd', { skip: skipContainerd }, () => {
    const IMAGE_NAME = 'docker.io/library/husk-engines';
    let IMAGE;
    let ctd;
    const ctr = (args, opts) =>
      run(CTR, ['-a', ctd.sock, '-n', CTR_NS, ...args], { timeout: CMD_TIMEOUT, ...opts });
    // prettier-ignore
    const runFlags = (rt, id) => [
      '--runc-binary', wrapper(rt),
      '--runc-root', path.join(ctd.dir, 'runc-root'),
      '--fifo-dir', path.join(ctd.dir, 'fifo'),
      // ctr needs the unit's slice:prefix:name with systemd's driver.
      ...(CGROUP_DRIVER === 'systemd' ? ['--runc-systemd-cgroup', '--cgroup', `system.slice:husk-ctr:${id}`] : []),
    ];
    const remove = (id) => async () => {
      const tasks = await ctr(['task', 'ls', '-q']);
      if (tasks.stdout.split('\n').includes(id)) await ctr(['task', 'delete', '-f', id]);
      const cs = await ctr(['container', 'ls', '-q']);
      if (cs.stdout.split('\n').includes(id)) await ctr(['container', 'delete', id]);
    };
    const taskStatus = async (id) => {
      const r = succeeded(await ctr(['task', 'ls']));
      const line = r.stdout.split('\n').find((l) => l.split(/\s+/)[0] === id);
      return line ? { pid: Number(line.split(/\s+/)[1]), status: line.split(/\s+/)[2] } : null;
    };

    before(async () => {
      ctd = await ensureContainerd();
      const out = path.join(S.tmp, 'oci.tar');
      const work = fs.mkdtempSync(path.join(S.tmp, 'oci-'));
      IMAGE = makeOciArchive({
        rootfs: path.join(S.tmp, 'rootfs'),
        work,
        name: IMAGE_NAME,
        tag: 'test',
        out,
      }).ref;
      fs.rmSync(work, { recursive: true, force: true });
      succeeded(await ctr(['images', 'import', out], { timeout: 60_000 }), 'ctr images import');
      const ls = succeeded(await ctr(['images', 'ls', '-q']));
      assert.ok(ls.stdout.split('\n').includes(IMAGE), `${IMAGE} not imported:\n${describeResult(ls)}`);
    });

    after(async () => {
      if (!ctd || !IMAGE) return;
      const tasks = await ctr(['task', 'ls', '-q']);
      for (const id of tasks.stdout.split('\n').filter(Boolean)) await ctr(['task', 'delete', '-f', id]);
      const cs = await ctr(['container', 'ls', '-q']);
      for (const id of cs.stdout.split('\n').filter(Boolean)) await ctr(['container', 'delete', id]);
      await ctr(['images', 'rm', '--sync', IMAGE]);
      await ctr(['content', 'prune', 'references']).catch(() => {});
    });

    async function detached(rt, defer, flags = []) {
      const id = uniq('he-ctr');
      defer(remove(id));
      succeeded(
        await ctr(['run', ...runFlags(rt, id), ...flags, '-d', IMAGE, id, 'sleep', '1000']),
        'ctr run -d',
      );
      const st = await taskStatus(id);
      assert.equal(st?.status, 'RUNNING');
      return { id, pid: st.pid };
    }

    for (const rt of RUNTIMES) {
      engineTest('containerd', 'run --rm echo', rt, async ({ rt, defer }) => {
        const id = uniq('he-ctr');
        defer(remove(id));
        const r = succeeded(
          await ctr(['run', ...runFlags(rt, id), '--rm', IMAGE, id, 'echo', 'hi']),
          'ctr run --rm echo hi',
        );
        assert.equal(r.stdout.replace(/\r/g, ''), 'hi\n');
      });

      engineTest('containerd', 'mknod (runc default device rules)', rt, async ({ rt, defer }) => {
        const id = uniq('he-ctr');
        defer(remove(id));
        const r = succeeded(
          await ctr(['run', ...runFlags(rt, id), '--rm', IMAGE, id, 'sh', '-c', MKNOD_SCRIPT]),
          'ctr run --rm mknod',
        );
        assertMknod({ ...r, stdout: r.stdout.replace(/\r/g, '') });
      });

      engineTest('containerd', 'run -d/exec/kill/delete', rt, async ({ rt, defer }) => {
        const { id } = await detached(rt, defer);
        const e = succeeded(
          await ctr([
            'task',
            'exec',
            '--fifo-dir',
            path.join(ctd.dir, 'fifo'),
            '--exec-id',
            'x',
            id,
            'echo',
            'from-exec',
          ]),
          'ctr task exec',
        );
        assert.equal(e.stdout, 'from-exec\n');
        // sleep is pid 1 and ignores SIGTERM: SIGKILL it.
        succeeded(await ctr(['task', 'kill', '-s', 'SIGKILL', id]), 'ctr task kill');
        await waitFor(async () => (await taskStatus(id))?.status === 'STOPPED', { what: `${id} STOPPED` });
        succeeded(await ctr(['task', 'delete', id]), 'ctr task delete');
        assert.equal(await taskStatus(id), null);
        succeeded(await ctr(['container', 'delete', id]), 'ctr container delete');
      });

      // ctr's default spec mounts no cgroupfs in the container: read the limit on the host.
      engineTest('containerd', '--memory-limit 64m', rt, async ({ rt, defer }) => {
        const { pid } = await detached(rt, defer, ['--memory-limit', String(64 * 1024 * 1024)]);
        const dir = cgroupDir(pid, 'memory');
        const file = fs.existsSync(path.join(dir, 'memory.max')) ? 'memory.max' : 'memory.limit_in_bytes';
        assert.equal(fs.readFileSync(path.join(dir, file), 'utf8').trim(), String(64 * 1024 * 1024));
      });

      engineTest(
        `containerd's cgroup driver (${CGROUP_DRIVER})`,
        'places the container',
        rt,
        async ({ rt, defer }) => {
          const { pid } = await detached(rt, defer);
          assertDriverPlaced(pid);
        },
      );

      engineTest('containerd', 'pause/resume', rt, async ({ rt, defer }) => {
        const { id, pid } = await detached(rt, defer);
        succeeded(await ctr(['task', 'pause', id]), 'ctr task pause');
        assert.equal((await taskStatus(id))?.status, 'PAUSED');
        assert.equal(frozen(pid), 'FROZEN');
        succeeded(await ctr(['task', 'resume', id]), 'ctr task resume');
        assert.equal((await taskStatus(id))?.status, 'RUNNING');
        assert.equal(frozen(pid), 'THAWED');
      });

      engineTest('containerd', 'metrics', rt, async ({ rt, defer }) => {
        const { id } = await detached(rt, defer);
        const r = succeeded(await ctr(['task', 'metrics', '--format', 'json', id]), 'ctr task metrics');
        const m = JSON.parse(r.stdout);
        assert.ok(m.pids?.current >= 1, `pids.current: ${r.stdout}`);
        const mem = m.memory?.usage?.usage ?? m.memory?.usage;
        assert.ok(mem > 0, `memory usage: ${r.stdout}`);
      });
    }
  });

  // -------------------------------------------------------------------------------------------
  // docker

  async function dockerIds() {
    if (!S.dockerd) return [];
    const r = await run(DOCKER, ['-H', `unix://${S.dockerd.sock}`, 'ps', '-aq'], { timeout: 10_000 });
    return r.stdout.split('\n').filter(Boolean);
  }

  describe('docker', { skip: skipDocker }, () => {
    const IMAGE = 'husk-engines:test';
    let dk;
    // The runc reference runs through a wrapper too, under its own name ("runc" is reserved).
    const runtimeName = (rt) => (rt === 'runc' ? 'runc-logged' : rt);
    const docker = (args, opts) =>
      run(DOCKER, ['-H', `unix://${dk.sock}`, ...args], { timeout: CMD_TIMEOUT, ...opts });
    const rmf = (name) => () => docker(['rm', '-f', name]);

    before(async () => {
      const ctd = await ensureContainerd();
      const dir = path.join(S.tmp, 'dk');
      fs.mkdirSync(dir);
      const sock = path.join(dir, 'docker.sock');
      // An empty config so that the machine's /etc/docker/daemon.json (if any) does not apply.
      fs.writeFileSync(path.join(dir, 'daemon.json'), '{}\n');
      // prettier-ignore
      const daemon = startDaemon(
        DOCKERD,
        [
          '--config-file', path.join(dir, 'daemon.json'),
          '--containerd', ctd.sock,
          '--data-root', path.join(dir, 'data'),
          '--exec-root', path.join(dir, 'exec'),
          '--pidfile', path.join(dir, 'docker.pid'),
          '-H', `unix://${sock}`,
          '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-masq=false',
          '--exec-opt', `native.cgroupdriver=${CGROUP_DRIVER}`,
          ...RUNTIMES.flatMap((rt) => ['--add-runtime', `${runtimeName(rt.name)}=${wrapper(rt.name)}`]),
        ],
        path.join(dir, 'dockerd.log'),
      );
      S.dockerd = dk = { daemon, sock, dir };
      await waitFor(
        async () => {
          if (daemon.child.exitCode !== null) throw new Error(`dockerd exited:\n${tail(daemon.logFile)}`);
          return (await run(DOCKER, ['-H', `unix://${sock}`, 'version'], { timeout: 5_000 })).code === 0;
        },
        { timeout: 30_000, what: 'dockerd' },
      );
      succeeded(await docker(['import', S.rootfsTar, IMAGE], { timeout: 60_000 }), 'docker import');
    });

    after(async () => {
      if (!dk) return;
      const ids = await dockerIds();
      if (ids.length) await docker(['rm', '-f', ...ids], { timeout: 60_000 });
      await docker(['rmi', '-f', IMAGE], { timeout: 60_000 });
    });

    async function detached(rt, defer) {
      const name = uniq('he-docker');
      defer(rmf(name));
      succeeded(
        await docker([
          'run',
          '--runtime',
          runtimeName(rt),
          '-d',
          '--network',
          'none',
          '--name',
          name,
          IMAGE,
          'sleep',
          '1000',
        ]),
        'docker run -d',
      );
      return { name };
    }

    for (const rt of RUNTIMES) {
      engineTest('docker', 'run --rm echo', rt, async ({ rt, defer }) => {
        const name = uniq('he-docker');
        defer(rmf(name));
        const r = succeeded(
          await docker([
            'run',
            '--runtime',
            runtimeName(rt),
            '--rm',
            '--network',
            'none',
            '--name',
            name,
            IMAGE,
            'echo',
            'hi',
          ]),
          'docker run --rm echo hi',
        );
        assert.equal(r.stdout, 'hi\n');
      });

      engineTest('docker', 'mknod (runc default device rules)', rt, async ({ rt, defer }) => {
        const name = uniq('he-docker');
        defer(rmf(name));
        // prettier-ignore
        const r = succeeded(
          await docker([
            'run', '--runtime', runtimeName(rt), '--rm', '--network', 'none', '--name', name,
            IMAGE, 'sh', '-c', MKNOD_SCRIPT,
          ]),
          'docker run --rm mknod',
        );
        assertMknod(r);
      });

      engineTest('docker', 'run -d/exec/stop/rm', rt, async ({ rt, defer }) => {
        const { name } = await detached(rt, defer);
        const e = succeeded(await docker(['exec', name, 'echo', 'from-exec']), 'docker exec');
        assert.equal(e.stdout, 'from-exec\n');
        succeeded(await docker(['stop', '-t', '2', name]), 'docker stop');
        assert.equal(
          succeeded(await docker(['inspect', '--format', '{{.State.Status}}', name])).stdout.trim(),
          'exited',
        );
        succeeded(await docker(['rm', name]), 'docker rm');
        assert.ok(!(await dockerIds()).some((id) => name.startsWith(id)));
        const ls = succeeded(await docker(['ps', '-a', '--format', '{{.Names}}']));
        assert.ok(!ls.stdout.split('\n').includes(name), `${name} still listed after rm`);
      });

      engineTest('docker', '--memory 64m', rt, async ({ rt, defer }) => {
        const name = uniq('he-docker');
        defer(rmf(name));
        // prettier-ignore
        const r = succeeded(
          await docker([
            'run', '--runtime', runtimeName(rt), '--rm', '--network', 'none', '--name', name,
            '--memory', '64m', IMAGE, 'sh', '-c', CAT_MEMORY_LIMIT,
          ]),
          'docker run --memory 64m',
        );
        assert.equal(r.stdout.trim(), String(64 * 1024 * 1024));
      });

      engineTest('docker', '--cpus 0.5', rt, async ({ rt, defer }) => {
        const name = uniq('he-docker');
        defer(rmf(name));
        // prettier-ignore
        const r = succeeded(
          await docker([
            'run', '--runtime', runtimeName(rt), '--rm', '--network', 'none', '--name', name,
            '--cpus', '0.5', IMAGE, 'sh', '-c', CAT_CPU_MAX,
          ]),
          'docker run --cpus 0.5',
        );
        assert.equal(r.stdout.trim(), CPU_MAX_HALF);
      });

      engineTest(
        `docker's cgroup driver (${CGROUP_DRIVER})`,
        'places the container',
        rt,
        async ({ rt, defer }) => {
          const { name } = await detached(rt, defer);
          const pid = Number(
            succeeded(await docker(['inspect', '--format', '{{.State.Pid}}', name])).stdout.trim(),
          );
          assertDriverPlaced(pid);
        },
      );

      engineTest('docker', 'top', rt, async ({ rt, defer }) => {
        const { name } = await detached(rt, defer);
        const r = succeeded(await docker(['top', name]), 'docker top');
        assert.match(r.stdout, /sleep 1000/);
      });

      engineTest('docker', 'stats --no-stream', rt, async ({ rt, defer }) => {
        const { name } = await detached(rt, defer);
        const r = succeeded(
          await docker(['stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}} {{.PIDs}}', name]),
          'docker stats --no-stream',
        );
        const line = r.stdout
          .trim()
          .split('\n')
          .find((l) => l.startsWith(name + ' '));
        assert.ok(line, `no stats line for ${name}:\n${describeResult(r)}`);
        assert.match(line, /\d+(\.\d+)?[kKMG]?i?B \/ /);
        assert.match(line, / 1$/);
      });
    }
  });
});
