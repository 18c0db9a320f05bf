// The engines of bench scenario 8 (`podman run --rm`, `docker run --rm`, `ctr run --rm`): each
// set up privately under the bench's temp dir, as test/engines/ does (podman's --root/--runroot/
// --tmpdir; a containerd with its own config, root, state and socket; a dockerd over it with its
// own data-root, exec-root and socket), the image made offline from the busybox rootfs, and each
// runtime called through a wrapper (`exec` of the runtime with its environment: the engines pass
// none of their own). Everything here is synchronous so that the bench's forced clean-up (a
// second signal) can stop the daemons too.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  cgroupDirs,
  existing,
  ENGINE_BINS,
  ENGINE_HOST_PATHS,
  RUNTIME_DEFAULT_ROOTS,
  pidsMentioning,
  privateContainerdConfig,
  removeNewCgroups,
  unmountUnder,
} from '../test/engines/lib.mjs';
import { makeOciArchive } from '../test/engines/oci-archive.mjs';

const {
  podman: PODMAN,
  conmon: CONMON,
  containerd: CONTAINERD,
  ctr: CTR,
  shim: SHIM,
  dockerd: DOCKERD,
} = ENGINE_BINS;
const DOCKER = '/usr/bin/docker'; // the daemon's own client (see test/engines)
const CTR_NS = 'husk-bench';
const HOST_PATHS = ENGINE_HOST_PATHS;
const RUNTIME_ROOTS = RUNTIME_DEFAULT_ROOTS;

const sleepMs = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const have = (...f) => f.every((x) => fs.existsSync(x));
const q = (s) => `'${String(s).replaceAll("'", `'\\''`)}'`;

function sync(cmd, args, timeout = 60_000) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout, killSignal: 'SIGKILL' });
  const ok = !r.error && r.status === 0;
  return {
    ok,
    out: r.stdout ?? '',
    err: `${(r.stderr ?? '').trim().split('\n').pop()} (${r.error?.message ?? `exit ${r.status}`})`,
  };
}

function startDaemon(cmd, args, logFile) {
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  child.on('error', () => {});
  return child;
}

function alive(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return false;
  try {
    const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

function stopDaemon(child, grace = 15_000) {
  if (!alive(child)) return;
  child.kill('SIGTERM');
  for (let t = 0; t < grace && alive(child); t += 50) sleepMs(50);
  if (alive(child)) child.kill('SIGKILL');
  for (let t = 0; t < 5000 && alive(child); t += 50) sleepMs(50);
}

function waitUntil(fn, ms, what) {
  for (const end = Date.now() + ms; ; sleepMs(200)) {
    if (fn()) return;
    if (Date.now() > end) throw new Error(`${what}: not ready within ${ms / 1000} s`);
  }
}

/**
 * Sets up the engines under `dir`: { engines: { podman, docker, ctr } (each { cmd(rt, name) →
 * [bin, args], or why: a reason it is not there }), stop() }. `runtimes` are the bench's runtime
 * objects ({ key, bin, env, available }); `rootfs` the busybox rootfs.
 */
export function setUpEngines(dir, runtimes, rootfs) {
  fs.mkdirSync(dir, { recursive: true });
  const state = {
    hostPaths: existing(HOST_PATHS),
    cgroups: cgroupDirs(),
    containerd: null,
    dockerd: null,
    podmanBase: null,
  };
  const wrappers = {};
  for (const rt of runtimes.filter((r) => r.available)) {
    // The runtime's own name as the wrapper's, in a directory per runtime: podman decides by the
    // name whether to pass --log-format=json (it does for runc).
    const name = rt.key === 'runc' ? 'runc' : 'husk';
    const w = path.join(dir, 'wrap', rt.key, name);
    fs.mkdirSync(path.dirname(w), { recursive: true });
    const env = ['HUSK_SERVER_DIR', 'NODE_OPTIONS']
      .filter((k) => rt.env[k] !== undefined)
      .map((k) => `export ${k}=${q(rt.env[k])}\n`)
      .join('');
    fs.writeFileSync(w, `#!/bin/sh\n${env}unset NODE_EXTRA_CA_CERTS\nexec ${q(rt.bin)} "$@"\n`, {
      mode: 0o755,
    });
    wrappers[rt.key] = w;
  }
  const tar = path.join(dir, 'rootfs.tar');
  const engines = {};
  const stop = () => stopEngines(state, dir);
  try {
    const t = sync('tar', ['--numeric-owner', '--exclude=./.husk-rootfs', '-C', rootfs, '-cf', tar, '.']);
    if (!t.ok) throw new Error(`tar of the rootfs: ${t.err}`);
    engines.podman = podmanEngine(dir, tar, wrappers, state);
    engines.ctr = ctrEngine(dir, rootfs, wrappers, state);
    engines.docker = dockerEngine(dir, tar, wrappers, state, engines.ctr);
  } catch (e) {
    stop();
    throw e;
  }
  return { engines, stop };
}

function podmanEngine(dir, tar, wrappers, state) {
  if (!have(PODMAN, CONMON)) return { why: `${PODMAN} or ${CONMON} not installed` };
  const d = path.join(dir, 'podman');
  // prettier-ignore
  const base = [
    '--root', path.join(d, 'root'), '--runroot', path.join(d, 'runroot'), '--tmpdir', path.join(d, 'tmp'),
    '--cgroup-manager', 'cgroupfs', '--events-backend', 'file',
  ];
  const image = 'localhost/husk-bench:latest';
  const r = sync(PODMAN, [...base, 'import', '-q', tar, image], 120_000);
  if (!r.ok) return { why: `podman import: ${r.err}` };
  state.podmanBase = base;
  // As test/engines: root here cannot raise RLIMIT_NOFILE to podman's default.
  const flags = ['--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
  return {
    cmd: (rt, name) => [
      PODMAN,
      [...base, '--runtime', wrappers[rt.key], 'run', '--rm', '--name', name, ...flags, image, '/bin/true'],
    ],
  };
}

function ctrEngine(dir, rootfs, wrappers, state) {
  if (!have(CONTAINERD, CTR, SHIM))
    return { why: 'containerd (containerd, ctr, the runc v2 shim) not installed' };
  const d = path.join(dir, 'ctd');
  fs.mkdirSync(d, { recursive: true });
  const sock = path.join(d, 'containerd.sock');
  const cfg = path.join(d, 'config.toml');
  fs.writeFileSync(cfg, privateContainerdConfig(d, sock));
  state.containerd = startDaemon(CONTAINERD, ['--config', cfg], path.join(d, 'containerd.log'));
  waitUntil(
    () => alive(state.containerd) && sync(CTR, ['-a', sock, 'version'], 5000).ok,
    30_000,
    'containerd',
  );
  const ctr = (args, timeout) => sync(CTR, ['-a', sock, '-n', CTR_NS, ...args], timeout);
  const work = path.join(d, 'oci-work');
  const out = path.join(d, 'oci.tar');
  const { ref } = makeOciArchive({ rootfs, work, name: 'docker.io/library/husk-bench', tag: 'latest', out });
  const r = ctr(['images', 'import', out], 120_000);
  if (!r.ok) return { why: `ctr images import: ${r.err}` };
  return {
    sock,
    cmd: (rt, name) => [
      CTR,
      // prettier-ignore
      [
        '-a', sock, '-n', CTR_NS, 'run', '--rm', '--runc-binary', wrappers[rt.key],
        '--runc-root', path.join(d, `runc-root-${rt.key}`), '--fifo-dir', path.join(d, 'fifo'),
        ref, name, '/bin/true',
      ],
    ],
  };
}

function dockerEngine(dir, tar, wrappers, state, ctr) {
  if (!have(DOCKERD, DOCKER)) return { why: `${DOCKERD} or ${DOCKER} not installed` };
  if (!ctr.sock) return { why: `no containerd for dockerd (${ctr.why})` };
  const d = path.join(dir, 'dk');
  fs.mkdirSync(d, { recursive: true });
  const sock = path.join(d, 'docker.sock');
  fs.writeFileSync(path.join(d, 'daemon.json'), '{}\n');
  const names = { husk: 'husk', huskServer: 'husk-server', runc: 'runc-wrapped' }; // "runc" is reserved
  // prettier-ignore
  const args = [
    '--config-file', path.join(d, 'daemon.json'), '--containerd', ctr.sock,
    '--data-root', path.join(d, 'data'), '--exec-root', path.join(d, 'exec'),
    '--pidfile', path.join(d, 'docker.pid'), '-H', `unix://${sock}`,
    '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-masq=false',
    ...Object.entries(wrappers).flatMap(([k, w]) => ['--add-runtime', `${names[k]}=${w}`]),
  ];
  state.dockerd = startDaemon(DOCKERD, args, path.join(d, 'dockerd.log'));
  const docker = (a, timeout) => sync(DOCKER, ['-H', `unix://${sock}`, ...a], timeout);
  state.docker = docker;
  waitUntil(() => alive(state.dockerd) && docker(['version'], 5000).ok, 60_000, 'dockerd');
  const image = 'husk-bench:latest';
  const r = docker(['import', tar, image], 120_000);
  if (!r.ok) return { why: `docker import: ${r.err}` };
  return {
    cmd: (rt, name) => [
      DOCKER,
      [
        '-H',
        `unix://${sock}`,
        'run',
        '--rm',
        '--runtime',
        names[rt.key],
        '--network',
        'none',
        '--name',
        name,
        image,
        '/bin/true',
      ],
    ],
  };
}

function stopEngines(state, dir) {
  if (state.podmanBase) {
    sync(PODMAN, [...state.podmanBase, 'rm', '-a', '-f', '-t', '0']);
    sync(PODMAN, [...state.podmanBase, 'system', 'reset', '-f']);
  }
  if (state.docker && alive(state.dockerd)) {
    const ids = state.docker(['ps', '-aq'], 10_000).out.split('\n').filter(Boolean);
    if (ids.length) state.docker(['rm', '-f', ...ids]);
  }
  stopDaemon(state.dockerd);
  stopDaemon(state.containerd);
  // Shims, conmon and container processes started from our bundles mention our directory.
  for (let i = 0; i < 2; i++) {
    const pids = pidsMentioning(dir);
    if (!pids.length) break;
    for (const pid of pids)
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    sleepMs(300);
  }
  unmountUnder(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  for (const p of HOST_PATHS) {
    if (state.hostPaths.has(p)) continue;
    if (RUNTIME_ROOTS.includes(p) && fs.existsSync(p) && fs.readdirSync(p).some((e) => !e.startsWith('.')))
      continue;
    fs.rmSync(p, { recursive: true, force: true });
  }
  removeNewCgroups(state.cgroups, ['libpod_parent', 'docker', CTR_NS]);
}
