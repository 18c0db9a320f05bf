// A private containerd with its CRI plugin on, and a CRI client that talks to it as kubelet does
// (gRPC runtime.v1 on a unix socket), for test/cri/ and bench/. Everything lives in one temp dir:
// containerd's root/state/sockets, the runtimes' --root, the CNI config and IPAM state, the pod
// logs and the images (a static pause program and the busybox rootfs, imported offline). The only
// things made outside it are a bridge of our own (no address, so no host route), the pods' cgroups
// under a parent of our own and the shim sockets containerd 1.6 puts in /run/containerd; stop()
// removes them all.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  run,
  describeResult,
  waitFor,
  startDaemon,
  stopDaemon,
  tail,
  writeWrapper,
  pidsMentioning,
  unmountUnder,
  mountsUnder,
} from '../engines/lib.mjs';
import {
  cgroupDirsUnder,
  cgroupProcs,
  killUntilGone,
  removeCgroupTree as removeCgroupDir,
} from '../lib/core.mjs';
import { makeOciArchive } from '../engines/oci-archive.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const HUSK = path.join(REPO, 'bin', 'husk');
export const RUNC = '/usr/sbin/runc';
export const CONTAINERD = '/usr/bin/containerd';
export const CTR = '/usr/bin/ctr';
export const SHIM = '/usr/bin/containerd-shim-runc-v2';
export const CNI_BIN = '/usr/lib/cni';
export const CRI_NS = 'k8s.io';
export const PAUSE_IMAGE = 'husk.test/pause:test';
export const BUSYBOX_IMAGE = 'husk.test/busybox:test';

/** Why the CRI tests cannot run here, or false. */
export function whyNot() {
  if (process.getuid?.() !== 0)
    return 'the CRI tests need root (containerd as root): sudo node --test test/cri/';
  const install = 'run `sh scripts/install-test-deps.sh` (as root)';
  for (const f of [CONTAINERD, CTR, SHIM])
    if (!fs.existsSync(f)) return `containerd not installed (${f}): ${install}`;
  for (const p of ['bridge', 'host-local', 'loopback'])
    if (!fs.existsSync(path.join(CNI_BIN, p)))
      return `CNI plugin ${p} missing in ${CNI_BIN} (containernetworking-plugins): ${install}`;
  if (!fs.existsSync('/bin/busybox') && !fs.existsSync('/usr/bin/busybox'))
    return `no busybox for the workload image: ${install}`;
  if (!cc())
    return 'no C compiler for the pause program (musl-gcc or cc with static libc): install musl-tools';
  if (spawnSync('ip', ['-V']).status !== 0) return 'no `ip` (iproute2) to remove the test bridge';
  return false;
}

function cc() {
  for (const c of ['musl-gcc', 'cc', 'gcc']) if (spawnSync(c, ['--version']).status === 0) return c;
  return null;
}

// ---------------------------------------------------------------------------------------------
// Images

function buildPause(dir) {
  const rootfs = path.join(dir, 'pause-rootfs');
  fs.mkdirSync(rootfs, { recursive: true });
  const out = path.join(rootfs, 'pause');
  const c = cc();
  const r = spawnSync(c, ['-static', '-Os', '-s', '-o', out, path.join(HERE, 'pause.c')], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`${c} -static pause.c failed: ${r.stderr}`);
  return rootfs;
}

async function importImage(ctd, archive) {
  const r = await ctd.ctr(['images', 'import', archive], { timeout: 60_000 });
  if (r.code !== 0) throw new Error(`ctr images import ${archive} failed:\n${describeResult(r)}`);
}

// ---------------------------------------------------------------------------------------------
// The private network: a bridge of our own with no address (the pods talk to each other only),
// host-local IPAM with its state in our dir, a 10.x subnet that no host route covers.

function pickSubnet() {
  const routes = spawnSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' }).stdout ?? '';
  for (let i = 0; i < 200; i++) {
    const b = 100 + ((process.pid + i) % 150);
    if (!routes.includes(`10.${b}.`)) return `10.${b}.0.0/24`;
  }
  throw new Error('no free 10.x.0.0/24 subnet for the test bridge');
}

function writeCniConf(dir, bridge, subnet) {
  const conf = path.join(dir, 'cni', 'net.d');
  fs.mkdirSync(conf, { recursive: true });
  fs.writeFileSync(
    path.join(conf, '10-husk-cri.conflist'),
    JSON.stringify(
      {
        cniVersion: '0.4.0',
        name: `husk-cri-${process.pid}`,
        plugins: [
          {
            type: 'bridge',
            bridge,
            // No gateway on the host side: the bridge gets no address, the host no route and no
            // ip_forward change; no masquerade, so no iptables rules.
            isGateway: false,
            isDefaultGateway: false,
            ipMasq: false,
            hairpinMode: false,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet }]],
              dataDir: path.join(dir, 'cni', 'ipam'),
            },
          },
        ],
      },
      null,
      2,
    ),
  );
  return conf;
}

// ---------------------------------------------------------------------------------------------
// containerd

function toml(s) {
  return JSON.stringify(s);
}

function writeConfig(dir, { sock, handlers, cniConf }) {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  const lines = [
    'version = 2',
    `root = ${toml(`${dir}/root`)}`,
    `state = ${toml(`${dir}/state`)}`,
    '[grpc]',
    `  address = ${toml(sock)}`,
    '[ttrpc]',
    `  address = ${toml(`${sock}.ttrpc`)}`,
    '[debug]',
    `  address = ${toml(`${dir}/debug.sock`)}`,
    '[metrics]',
    '  address = ""',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${toml(`${dir}/opt`)}`,
    `[${cri}]`,
    `  sandbox_image = ${toml(PAUSE_IMAGE)}`,
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    '  enable_selinux = false',
    '  disable_apparmor = true',
    '  netns_mounts_under_state_dir = true',
    '  systemd_cgroup = false',
    // This machine's root lacks CAP_SYS_RESOURCE: the sandbox's -998 would fail in every runtime.
    '  restrict_oom_score_adj = true',
    `[${cri}.cni]`,
    `  bin_dir = ${toml(CNI_BIN)}`,
    `  conf_dir = ${toml(cniConf)}`,
    '  max_conf_num = 1',
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    // Must name a configured handler, or the CRI plugin does not load at all.
    `  default_runtime_name = ${toml(Object.keys(handlers)[0])}`,
  ];
  for (const [name, h] of Object.entries(handlers)) {
    lines.push(
      `[${cri}.containerd.runtimes.${name}]`,
      '  runtime_type = "io.containerd.runc.v2"',
      `[${cri}.containerd.runtimes.${name}.options]`,
      `  BinaryName = ${toml(h.binary)}`,
      `  Root = ${toml(h.root)}`,
      '  SystemdCgroup = false',
    );
  }
  const cfg = path.join(dir, 'config.toml');
  fs.writeFileSync(cfg, lines.join('\n') + '\n');
  return cfg;
}

/**
 * Starts containerd with CRI for the given runtime handlers: { name: { real, env } } (each called
 * through a logging wrapper, see test/engines/lib.mjs). → the CRI context: { dir, sock, cri,
 * handlers, cgroupParent, ctr(), stop(), ... }.
 */
export async function startCri({ handlers, prefix = 'husk-cri-' }) {
  const { criClient } = await import('./client.mjs');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const ctx = {
    dir,
    sock: path.join(dir, 'containerd.sock'),
    bridge: `hcri${process.pid % 100000}`,
    subnet: pickSubnet(),
    // The pods' cgroups go under this parent (what kubelet's /kubepods is), one per pod.
    cgroupParent: `/husk-cri-${process.pid}`,
    handlers: {},
    daemon: null,
    cri: null,
    runShimBefore: fs.existsSync('/run/containerd'),
  };
  ctx.ctr = (args, opts) => run(CTR, ['-a', ctx.sock, '-n', CRI_NS, ...args], { timeout: 30_000, ...opts });
  ctx.stop = () => stopCri(ctx);
  try {
    fs.mkdirSync(path.join(dir, 'wrap'));
    for (const [name, h] of Object.entries(handlers)) {
      const wrapper = path.join(dir, 'wrap', name);
      const log = path.join(dir, `calls-${name}.log`);
      writeWrapper(wrapper, h.real, log, h.env ?? {});
      ctx.handlers[name] = { binary: wrapper, log, root: path.join(dir, `root-${name}`), real: h.real };
    }
    const cniConf = writeCniConf(dir, ctx.bridge, ctx.subnet);
    const cfg = writeConfig(dir, { sock: ctx.sock, handlers: ctx.handlers, cniConf });
    fs.mkdirSync(path.join(dir, 'logs'));
    ctx.daemon = startDaemon(CONTAINERD, ['--config', cfg], path.join(dir, 'containerd.log'));
    await waitFor(
      async () => {
        if (ctx.daemon.child.exitCode !== null)
          throw new Error(`containerd exited:\n${tail(ctx.daemon.logFile)}`);
        return (
          fs.existsSync(ctx.sock) &&
          (await run(CTR, ['-a', ctx.sock, 'version'], { timeout: 5_000 })).code === 0
        );
      },
      { timeout: 30_000, what: 'containerd' },
    );
    // The images, offline: a static pause program as the sandbox image, busybox as the workload.
    const { ensureRootfs } = await import(path.join(REPO, 'scripts', 'ensure-rootfs.mjs'));
    const images = [
      {
        rootfs: buildPause(dir),
        ref: PAUSE_IMAGE,
        config: { Entrypoint: ['/pause'], Cmd: null, Env: [] },
      },
      { rootfs: ensureRootfs(path.join(dir, 'busybox-rootfs')), ref: BUSYBOX_IMAGE, config: {} },
    ];
    for (const im of images) {
      const [name, tag] = im.ref.split(':');
      const work = fs.mkdtempSync(path.join(dir, 'oci-'));
      const out = path.join(dir, `${tag}-${path.basename(name)}.tar`);
      makeOciArchive({ rootfs: im.rootfs, work, name, tag, out, config: im.config });
      fs.rmSync(work, { recursive: true, force: true });
      await importImage(ctx, out);
    }
    ctx.cri = criClient(ctx.sock);
    // The CRI plugin loads the CNI config asynchronously: wait until it says the network is ready.
    await waitFor(
      async () => {
        const st = await ctx.cri.Status({});
        return st.status.conditions.every((c) => c.status);
      },
      { timeout: 20_000, what: 'CRI Status: RuntimeReady and NetworkReady' },
    );
  } catch (e) {
    await stopCri(ctx).catch(() => {});
    throw e;
  }
  return ctx;
}

/** Stops and removes every sandbox this containerd has. */
export async function removeAllPods(ctx) {
  if (!ctx.cri) return;
  const { items } = await ctx.cri.ListPodSandbox({});
  for (const p of items) {
    await ctx.cri.StopPodSandbox({ pod_sandbox_id: p.id }).catch(() => {});
    await ctx.cri.RemovePodSandbox({ pod_sandbox_id: p.id }).catch(() => {});
  }
}

async function stopCri(ctx) {
  try {
    await removeAllPods(ctx);
  } catch {}
  ctx.cri?.close();
  if (ctx.daemon) await stopDaemon(ctx.daemon);
  // Shims and container processes started from our dir (the shims outlive containerd).
  // SIGKILL, up to three rounds (a shim can start a process while it dies).
  await killUntilGone(() => pidsMentioning(ctx.dir), { rounds: 3, pauseMs: 300 });
  // Container processes do not mention our dir (a pod containerd failed to stop, say): whatever
  // is in our cgroups is ours.
  await killUntilGone(() => pidsInCgroups(ctx.cgroupParent), { rounds: 3, pauseMs: 300 });
  unmountUnder(ctx.dir);
  // HUSK_CRI_KEEP_LOGS=DIR: containerd's log and the runtime call logs are copied there first.
  const keep = process.env.HUSK_CRI_KEEP_LOGS;
  if (keep) {
    fs.mkdirSync(keep, { recursive: true });
    for (const f of fs.readdirSync(ctx.dir).filter((f) => f.endsWith('.log')))
      fs.copyFileSync(path.join(ctx.dir, f), path.join(keep, f));
  }
  spawnSync('ip', ['link', 'del', ctx.bridge], { stdio: 'ignore' });
  removeCgroupTree(ctx.cgroupParent);
  fs.rmSync(ctx.dir, { recursive: true, force: true });
  if (!ctx.runShimBefore && fs.existsSync('/run/containerd')) {
    try {
      fs.rmSync('/run/containerd', { recursive: true });
    } catch {}
  }
}

/** The cgroup directories at or under `rel` (a cgroupfs path such as /husk-cri-1/podX), every hierarchy. */
export const cgroupsUnder = cgroupDirsUnder;

export function pidsInCgroups(/** @type {string} */ rel) {
  return [...new Set(cgroupsUnder(rel).flatMap(cgroupProcs))];
}

/** Removes the cgroup directories at or under `rel` (deepest first), in every hierarchy. */
export function removeCgroupTree(/** @type {string} */ rel) {
  for (const d of cgroupsUnder(rel).sort((a, b) => b.length - a.length)) removeCgroupDir(d);
}

/** Mount points under our dir whose path mentions `needle` (a sandbox or container id). */
export function mountsMentioning(ctx, needle) {
  return mountsUnder(ctx.dir).filter((m) => m.includes(needle));
}
