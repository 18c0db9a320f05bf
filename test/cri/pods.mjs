// What kubelet sends for a pod and its containers, reduced to what the tests vary: the
// RunPodSandbox and CreateContainer requests, and the reads of the verbose status (containerd puts
// the sandbox's and containers' pids and OCI specs in info.info, as JSON).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BUSYBOX_IMAGE } from './lib.mjs';

/**
 * RunPodSandbox on `handler`: → { id, uid, config, logDir, cgroup }. With sharePid the pod's
 * containers share the sandbox's pid namespace (shareProcessNamespace: true in the PodSpec);
 * otherwise each gets its own, as kubelet asks for v1 pods.
 */
export async function runPod(ctx, handler, { name, sharePid = false }) {
  const uid = `${name}-${crypto.randomUUID().slice(0, 8)}`;
  // kubelet's /var/log/pods/<namespace>_<name>_<uid>, which kubelet makes.
  const logDir = path.join(ctx.dir, 'logs', `husk-cri_${name}_${uid}`);
  fs.mkdirSync(logDir, { recursive: true });
  const cgroup = `${ctx.cgroupParent}/pod${uid}`;
  const config = {
    metadata: { name, uid, namespace: 'husk-cri', attempt: 0 },
    hostname: name,
    log_directory: logDir,
    labels: { 'husk.test/pid': String(process.pid) },
    annotations: { 'husk.test/handler': handler },
    linux: {
      cgroup_parent: cgroup,
      security_context: { namespace_options: nsOptions(sharePid) },
    },
  };
  const { pod_sandbox_id: id } = await ctx.cri.RunPodSandbox({ config, runtime_handler: handler });
  return { id, uid, config, logDir, cgroup, sharePid, handler };
}

function nsOptions(sharePid) {
  return { network: 'POD', pid: sharePid ? 'POD' : 'CONTAINER', ipc: 'POD' };
}

/**
 * CreateContainer in `pod` (not started): → { id, name, logPath }.
 * @param {any} ctx
 * @param {any} pod
 * @param {string} name
 * @param {string[]} command
 * @param {{ resources?: object, attempt?: number, tty?: boolean, mounts?: object[] }} [opts]
 */
export async function createContainer(
  ctx,
  pod,
  name,
  command,
  { resources, attempt = 0, tty = false, mounts = [] } = {},
) {
  fs.mkdirSync(path.join(pod.logDir, name), { recursive: true });
  const config = {
    metadata: { name, attempt },
    image: { image: BUSYBOX_IMAGE },
    command,
    envs: [{ key: 'HUSK_CRI_CONTAINER', value: name }],
    mounts,
    labels: { 'husk.test/container': name },
    log_path: `${name}/${attempt}.log`,
    // kubelet sends stdin with tty (`kubectl run -it`); nothing attaches to it here.
    tty,
    stdin: tty,
    linux: {
      resources: resources ?? {},
      security_context: { namespace_options: nsOptions(pod.sharePid) },
    },
  };
  const { container_id: id } = await ctx.cri.CreateContainer({
    pod_sandbox_id: pod.id,
    config,
    sandbox_config: pod.config,
  });
  return { id, name, logPath: path.join(pod.logDir, name, `${attempt}.log`) };
}

export async function startContainer(ctx, pod, name, command, opts) {
  const c = await createContainer(ctx, pod, name, command, opts);
  await ctx.cri.StartContainer({ container_id: c.id });
  return c;
}

/** The sandbox's verbose info: { pid, runtimeSpec, runtimeHandler, ... }. */
export async function sandboxInfo(ctx, id) {
  const r = await ctx.cri.PodSandboxStatus({ pod_sandbox_id: id, verbose: true });
  return { status: r.status, info: JSON.parse(r.info.info) };
}

export async function containerInfo(ctx, id) {
  const r = await ctx.cri.ContainerStatus({ container_id: id, verbose: true });
  return { status: r.status, info: r.info.info ? JSON.parse(r.info.info) : {} };
}

/** ExecSync → { code, out, err } (strings). */
export async function execSync(ctx, id, cmd, timeout = 10) {
  const r = await ctx.cri.ExecSync({ container_id: id, cmd, timeout });
  return { code: r.exit_code, out: r.stdout.toString(), err: r.stderr.toString() };
}

/** The CRI log file's lines: [{ time, stream, tag, text }]. */
export function readCriLog(file) {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const m = /^(\S+) (stdout|stderr) ([PF]) (.*)$/.exec(l);
      return m ? { time: m[1], stream: m[2], tag: m[3], text: m[4] } : { bad: l };
    });
}
