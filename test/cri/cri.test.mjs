// Pods on husk through containerd's CRI plugin, the way kubelet drives it, side by side with runc:
// each scenario runs on the `husk` runtime handler and on the `runc` one of the same containerd.
// See test/cri/README.md for the setup and what it leaves on the machine (nothing).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { callsSince, formatCall, logSize, pidsMentioning, tail, waitFor } from '../engines/lib.mjs';
import {
  BUSYBOX_IMAGE,
  HUSK,
  PAUSE_IMAGE,
  REPO,
  RUNC,
  cgroupsUnder,
  mountsMentioning,
  startCri,
  whyNot,
} from './lib.mjs';
import { startHuskServer } from '../lib/husk-server.mjs';
import { wsExec } from './exec-stream.mjs';
import { containerInfo, execSync, readCriLog, runPod, sandboxInfo, startContainer } from './pods.mjs';

const SKIP = whyNot();
const NOT_BUILT = !fs.existsSync(path.join(REPO, 'dist', 'husk.js'))
  ? 'husk is not built: run `npm run build`'
  : false;
const HANDLERS = [
  { name: 'husk', real: HUSK, skip: NOT_BUILT },
  // The same bin/husk with a husk server of the suite's own: its wrapper points HUSK_SERVER_DIR
  // at it (the shim runs the runtime with containerd's environment).
  { name: 'husk-server', real: HUSK, server: true, skip: NOT_BUILT },
  { name: 'runc', real: RUNC, skip: !fs.existsSync(RUNC) ? `${RUNC} not installed` : false },
];
const TIMEOUT = 60_000;
const SLEEP = ['sh', '-c', 'echo hello-stdout; echo hello-stderr >&2; exec sleep 100000'];

let ctx;
let server;

describe('cri', { skip: SKIP }, () => {
  before(async () => {
    const on = HANDLERS.filter((h) => !h.skip);
    if (on.some((h) => h.server)) server = await startHuskServer();
    const env = (h) => (h.server ? { HUSK_SERVER_DIR: server.dir } : {});
    ctx = await startCri({
      handlers: Object.fromEntries(on.map((h) => [h.name, { real: h.real, env: env(h) }])),
    });
  });
  after(async () => {
    if (ctx) await ctx.stop();
    if (server) {
      // A server that ran none of the calls means the husk-server runs tested the Node CLI again.
      const tally = await server.stop();
      if (!tally.served) throw new Error(`the husk server served no call: ${tally.log}`);
    }
  });

  test('Version, Status, ImageStatus, ListImages', async () => {
    const v = await ctx.cri.Version({ version: 'v1' });
    assert.equal(v.runtime_name, 'containerd');
    assert.equal(v.runtime_api_version, 'v1');
    const st = await ctx.cri.Status({ verbose: false });
    const cond = Object.fromEntries(st.status.conditions.map((c) => [c.type, c.status]));
    assert.deepEqual(cond, { RuntimeReady: true, NetworkReady: true });
    for (const ref of [PAUSE_IMAGE, BUSYBOX_IMAGE]) {
      const im = await ctx.cri.ImageStatus({ image: { image: ref } });
      assert.ok(im.image?.id.startsWith('sha256:'), `ImageStatus ${ref}: ${JSON.stringify(im)}`);
      assert.ok(im.image.repo_tags.includes(ref));
    }
    const { images } = await ctx.cri.ListImages({});
    const tags = images.flatMap((i) => i.repo_tags);
    assert.ok(tags.includes(PAUSE_IMAGE) && tags.includes(BUSYBOX_IMAGE), tags.join(' '));
  });

  for (const h of HANDLERS) describe(`[${h.name}]`, { skip: h.skip }, () => handlerSuite(h.name));
});

// One test with the runtime calls it made shown when it fails (as test/engines does).
function criTest(handler, name, fn) {
  test(`${name} [${handler}]`, { timeout: TIMEOUT }, async (t) => {
    const log = ctx.handlers[handler].log;
    const mark = logSize(log);
    try {
      await fn(t);
    } catch (e) {
      for (const c of callsSince(log, mark)) t.diagnostic(`runtime call: ${formatCall(c)}`);
      t.diagnostic(`containerd log:\n${tail(ctx.daemon.logFile, 8)}`);
      throw e;
    }
  });
}

const nsOf = (pid, ns) => fs.readlinkSync(`/proc/${pid}/ns/${ns}`);

/** The host's cgroup directory of `pid` in a v1 hierarchy (or the v2 one). */
function cgroupFile(pid, controller, file) {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const v1 = lines.find((l) => l.split(':')[1].split(',').includes(controller));
  if (v1) return path.join('/sys/fs/cgroup', controller, v1.split(':')[2], file);
  const base = fs.existsSync('/sys/fs/cgroup/unified') ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup';
  return path.join(base, lines.find((l) => l.startsWith('0::')).slice(3), file);
}
const readNum = (f) => Number(fs.readFileSync(f, 'utf8').trim().split(/\s+/)[0]);

/**
 * Stops and removes `pod`, then lists what it left: sandboxes or containers containerd still
 * lists, cgroups below the pod's (the pod's own is kubelet's to remove: removed here, which only
 * works when it is empty), mounts, the netns file, processes, and the state directories of
 * containerd (its task bundles, the CRI plugin's sandbox and container dirs) and of the runtime.
 */
async function removePodAndList(pod, containerIds, netnsPath) {
  await ctx.cri.StopPodSandbox({ pod_sandbox_id: pod.id });
  // StopPodSandbox is idempotent: kubelet calls it more than once.
  await ctx.cri.StopPodSandbox({ pod_sandbox_id: pod.id });
  await ctx.cri.RemovePodSandbox({ pod_sandbox_id: pod.id });
  const left = [];
  const { items } = await ctx.cri.ListPodSandbox({ filter: { id: pod.id } });
  if (items.length) left.push(`sandbox still listed: ${pod.id}`);
  const { containers } = await ctx.cri.ListContainers({ filter: { pod_sandbox_id: pod.id } });
  for (const c of containers) left.push(`container still listed: ${c.id}`);
  const ids = [pod.id, ...containerIds];
  for (const d of cgroupsUnder(pod.cgroup)) if (!d.endsWith(`/pod${pod.uid}`)) left.push(`cgroup: ${d}`);
  for (const d of cgroupsUnder(pod.cgroup).sort((a, b) => b.length - a.length)) {
    try {
      fs.rmdirSync(d);
    } catch (e) {
      left.push(`pod cgroup not removable (${e.code}): ${d}`);
    }
  }
  for (const id of ids) {
    for (const m of mountsMentioning(ctx, id)) left.push(`mount: ${m}`);
    for (const pid of pidsMentioning(id)) left.push(`process ${pid} mentions ${id}`);
    const dirs = [
      path.join(ctx.handlers[pod.handler].root, 'k8s.io', id),
      path.join(ctx.dir, 'state', 'io.containerd.runtime.v2.task', 'k8s.io', id),
      path.join(ctx.dir, 'root', 'io.containerd.grpc.v1.cri', 'sandboxes', id),
      path.join(ctx.dir, 'state', 'io.containerd.grpc.v1.cri', 'sandboxes', id),
      path.join(ctx.dir, 'root', 'io.containerd.grpc.v1.cri', 'containers', id),
      path.join(ctx.dir, 'state', 'io.containerd.grpc.v1.cri', 'containers', id),
      path.join('/run/containerd/io.containerd.runtime.v2.task/k8s.io', id),
    ];
    for (const d of dirs) if (fs.existsSync(d)) left.push(`state dir: ${d}`);
  }
  if (netnsPath && fs.existsSync(netnsPath)) left.push(`netns file: ${netnsPath}`);
  return left;
}

function handlerSuite(handler) {
  // The pod most tests share: a sandbox and two long-running containers.
  let pod;
  let a;
  let b;
  let sandboxPid;
  let netnsPath;
  const extra = []; // containers created later in the pod, for the removal check

  criTest(handler, 'RunPodSandbox + two containers share the pod net, ipc and uts namespaces', async () => {
    pod = await runPod(ctx, handler, { name: `pod-${handler}` });
    const { status, info } = await sandboxInfo(ctx, pod.id);
    assert.equal(status.state, 'SANDBOX_READY');
    assert.equal(info.runtimeHandler, handler);
    assert.match(status.network.ip, /^10\.\d+\.0\.\d+$/, 'the pod has an address from our CNI subnet');
    sandboxPid = info.pid;
    assert.ok(sandboxPid > 0);
    netnsPath = info.runtimeSpec.linux.namespaces.find((n) => n.type === 'network').path;
    assert.ok(netnsPath.startsWith(ctx.dir), `netns file in our state dir: ${netnsPath}`);
    const { items } = await ctx.cri.ListPodSandbox({
      filter: { label_selector: { 'husk.test/pid': String(process.pid) } },
    });
    assert.ok(items.some((p) => p.id === pod.id && p.runtime_handler === handler));

    a = await startContainer(ctx, pod, 'a', SLEEP);
    b = await startContainer(ctx, pod, 'b', SLEEP);
    for (const c of [a, b]) {
      const { status: cs } = await containerInfo(ctx, c.id);
      assert.equal(cs.state, 'CONTAINER_RUNNING', `${c.name}: ${JSON.stringify(cs)}`);
    }
    const { containers } = await ctx.cri.ListContainers({ filter: { pod_sandbox_id: pod.id } });
    assert.deepEqual(containers.map((c) => c.metadata.name).sort(), ['a', 'b']);

    for (const ns of ['net', 'ipc', 'uts']) {
      const host = nsOf(sandboxPid, ns);
      for (const c of [a, b]) {
        const r = await execSync(ctx, c.id, ['readlink', `/proc/self/ns/${ns}`]);
        assert.equal(r.code, 0, r.err);
        assert.equal(r.out.trim(), host, `${c.name}'s ${ns} namespace is the sandbox's`);
      }
    }
    // Each container its own pid and mount namespace (pid CONTAINER), not the sandbox's.
    const pidA = (await containerInfo(ctx, a.id)).info.pid;
    const pidB = (await containerInfo(ctx, b.id)).info.pid;
    assert.notEqual(nsOf(pidA, 'pid'), nsOf(sandboxPid, 'pid'));
    assert.notEqual(nsOf(pidA, 'pid'), nsOf(pidB, 'pid'));
    assert.notEqual(nsOf(pidA, 'mnt'), nsOf(pidB, 'mnt'));
    for (const c of [a, b]) {
      const r = await execSync(ctx, c.id, ['hostname']);
      assert.equal(r.out.trim(), `pod-${handler}`);
      const ip = await execSync(ctx, c.id, ['ip', '-4', '-o', 'addr', 'show', 'eth0']);
      assert.ok(ip.out.includes(`${status.network.ip}/`), ip.out + ip.err);
    }
  });

  criTest(handler, 'ExecSync: exit code, stdout and stderr', async () => {
    const r = await execSync(ctx, a.id, ['sh', '-c', 'echo out-$HUSK_CRI_CONTAINER; echo err >&2; exit 7']);
    assert.deepEqual(r, { code: 7, out: 'out-a\n', err: 'err\n' });
    const ok = await execSync(ctx, b.id, ['true']);
    assert.equal(ok.code, 0);
    // A command that does not exist: kubelet sees a non-zero exit (the probe fails), not an RPC error.
    /** @type {{ rpcError?: string, code?: number }} */
    const missing = await execSync(ctx, a.id, ['/no/such/probe']).catch((e) => ({ rpcError: e.message }));
    assert.ok(missing.rpcError || missing.code !== 0, JSON.stringify(missing));
  });

  criTest(handler, 'readiness-style ExecSync every second', async () => {
    const results = [];
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      const r = await execSync(ctx, a.id, ['sh', '-c', 'test -d /proc/1 && echo ready'], 1);
      results.push(r);
      assert.deepEqual(r, { code: 0, out: 'ready\n', err: '' }, `probe ${i}`);
      await sleep(Math.max(0, 1000 - (Date.now() - t0)));
    }
    // The probes left no exec process behind.
    const ps = await execSync(ctx, a.id, ['ps', '-o', 'pid,args']);
    assert.deepEqual(
      ps.out
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.trim().split(/\s+/).slice(1).join(' '))
        .filter((c) => !c.startsWith('ps')),
      ['sleep 100000'],
      ps.out,
    );
  });

  criTest(handler, 'Exec: the streaming URL, and an exec through it as the API server does', async () => {
    const { url } = await ctx.cri.Exec({
      container_id: a.id,
      cmd: ['sh', '-c', 'echo out-$HUSK_CRI_CONTAINER; echo err >&2; exit 4'],
      stdout: true,
      stderr: true,
    });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/exec\/\S+$/);
    const r = await wsExec(url);
    assert.equal(r.protocol, 'v4.channel.k8s.io');
    assert.equal(r.stdout, 'out-a\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal(r.status?.reason, 'NonZeroExitCode', JSON.stringify(r.status));
    assert.deepEqual(r.status.details.causes, [{ reason: 'ExitCode', message: '4' }]);
    const ok = await wsExec((await ctx.cri.Exec({ container_id: b.id, cmd: ['true'], stdout: true })).url);
    assert.equal(ok.status?.status, 'Success', JSON.stringify(ok.status));
    // A URL is good for one exec: a second use is refused.
    await assert.rejects(wsExec(url), /HTTP 404/);
  });

  criTest(handler, 'container logs in the CRI log path, ReopenContainerLog', async () => {
    await waitFor(() => readCriLog(a.logPath).length >= 2, { timeout: 5_000, what: `${a.logPath}` });
    const lines = readCriLog(a.logPath);
    assert.deepEqual(
      lines.map((l) => [l.stream, l.tag, l.text]).sort(),
      [
        ['stderr', 'F', 'hello-stderr'],
        ['stdout', 'F', 'hello-stdout'],
      ],
      fs.readFileSync(a.logPath, 'utf8'),
    );
    assert.ok(lines.every((l) => !Number.isNaN(Date.parse(l.time))));
    const { status } = await containerInfo(ctx, a.id);
    assert.equal(status.log_path, a.logPath);
    // Log rotation as kubelet does it: rename, then ask for the file to be reopened.
    fs.renameSync(a.logPath, `${a.logPath}.1`);
    await ctx.cri.ReopenContainerLog({ container_id: a.id });
    const r = await execSync(ctx, a.id, ['sh', '-c', 'echo after-reopen >/proc/1/fd/1']);
    assert.equal(r.code, 0, r.err);
    await waitFor(() => readCriLog(a.logPath).some((l) => l.text === 'after-reopen'), {
      timeout: 5_000,
      what: 'the line written after ReopenContainerLog in the new file',
    });
    assert.ok(!readCriLog(`${a.logPath}.1`).some((l) => l.text === 'after-reopen'));
  });

  criTest(handler, 'UpdateContainerResources: memory and cpu in the cgroup files', async () => {
    const pid = (await containerInfo(ctx, b.id)).info.pid;
    const mem = 96 * 1024 * 1024;
    await ctx.cri.UpdateContainerResources({
      container_id: b.id,
      linux: { memory_limit_in_bytes: mem, cpu_period: 100_000, cpu_quota: 50_000, cpu_shares: 256 },
    });
    if (
      fs.existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes') ||
      !fs.existsSync('/sys/fs/cgroup/cgroup.controllers')
    ) {
      assert.equal(readNum(cgroupFile(pid, 'memory', 'memory.limit_in_bytes')), mem);
      assert.equal(readNum(cgroupFile(pid, 'cpu', 'cpu.cfs_quota_us')), 50_000);
      assert.equal(readNum(cgroupFile(pid, 'cpu', 'cpu.cfs_period_us')), 100_000);
      assert.equal(readNum(cgroupFile(pid, 'cpu', 'cpu.shares')), 256);
    } else {
      assert.equal(readNum(cgroupFile(pid, 'memory', 'memory.max')), mem);
      assert.equal(fs.readFileSync(cgroupFile(pid, 'cpu', 'cpu.max'), 'utf8').trim(), '50000 100000');
    }
    // The container's own view agrees (its cgroup namespace or mount shows the same files).
    const inside = await execSync(ctx, b.id, [
      'sh',
      '-c',
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max',
    ]);
    assert.equal(Number(inside.out.trim()), mem, inside.out + inside.err);
  });

  criTest(handler, 'ContainerStats: cpu and memory non-zero', async () => {
    // Some work in the container's cgroup first (an exec joins it).
    await execSync(ctx, b.id, ['sh', '-c', 'i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done']);
    const { stats } = await ctx.cri.ContainerStats({ container_id: b.id });
    assert.equal(stats.attributes.id, b.id);
    assert.ok(stats.cpu.usage_core_nano_seconds.value > 0, JSON.stringify(stats.cpu));
    assert.ok(stats.memory.working_set_bytes.value > 0, JSON.stringify(stats.memory));
    assert.ok(stats.cpu.timestamp > 0 && stats.memory.timestamp > 0);
  });

  criTest(handler, 'StopContainer with a grace period: SIGTERM, then SIGKILL', async () => {
    const c = await startContainer(ctx, pod, 'stubborn', [
      'sh',
      '-c',
      'trap "echo got-TERM" TERM; echo up; while :; do sleep 0.1; done',
    ]);
    extra.push(c.id);
    await waitFor(() => readCriLog(c.logPath).some((l) => l.text === 'up'), { timeout: 5_000, what: 'up' });
    const t0 = Date.now();
    await ctx.cri.StopContainer({ container_id: c.id, timeout: 2 });
    const took = Date.now() - t0;
    const { status } = await containerInfo(ctx, c.id);
    assert.equal(status.state, 'CONTAINER_EXITED');
    assert.equal(status.exit_code, 137, 'killed by SIGKILL after the grace period');
    assert.ok(took >= 1900 && took < 15_000, `StopContainer took ${took} ms for a 2 s grace period`);
    assert.ok(
      readCriLog(c.logPath).some((l) => l.text === 'got-TERM'),
      'SIGTERM came first',
    );
    // Idempotent: stopping a stopped container is no error.
    await ctx.cri.StopContainer({ container_id: c.id, timeout: 2 });
    await ctx.cri.RemoveContainer({ container_id: c.id });
    await assert.rejects(ctx.cri.ContainerStatus({ container_id: c.id }), /not found|does not exist/);
  });

  criTest(handler, 'a container that exits on its own is reported Exited with its code', async () => {
    const c = await startContainer(ctx, pod, 'quitter', ['sh', '-c', 'sleep 0.3; exit 3']);
    extra.push(c.id);
    const status = await waitFor(
      async () => {
        const { status: s } = await containerInfo(ctx, c.id);
        return s.state === 'CONTAINER_EXITED' && s;
      },
      { timeout: 10_000, what: 'the container to exit' },
    );
    assert.equal(status.exit_code, 3);
    assert.equal(status.reason, 'Error');
    assert.ok(status.finished_at > status.started_at && status.started_at > 0);
  });

  criTest(
    handler,
    'a probe that outlives its ExecSync timeout fails in time, leaving no process',
    async () => {
      const t0 = Date.now();
      const r = await ctx.cri.ExecSync({ container_id: a.id, cmd: ['sleep', '30'], timeout: 1 }).then(
        (x) => ({ code: x.exit_code }),
        (e) => ({ rpcError: e.message }),
      );
      const took = Date.now() - t0;
      // containerd 1.6 answers DeadlineExceeded (kubelet counts the probe as failed).
      assert.ok(r.rpcError || r.code !== 0, JSON.stringify(r));
      assert.ok(took < 10_000, `ExecSync with a 1 s timeout took ${took} ms`);
      await waitFor(
        async () => {
          const ps = await execSync(ctx, a.id, ['ps', '-o', 'args']);
          return !ps.out.split('\n').some((l) => l.trim() === 'sleep 30');
        },
        { timeout: 10_000, what: 'the timed-out probe process to be gone' },
      );
    },
  );

  criTest(handler, 'a container over its memory limit is reported OOMKilled', async () => {
    const mem = 32 * 1024 * 1024;
    const c = await startContainer(
      ctx,
      pod,
      'hog',
      ['sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived'],
      { resources: { memory_limit_in_bytes: mem, memory_swap_limit_in_bytes: mem } },
    );
    extra.push(c.id);
    const status = await waitFor(
      async () => {
        const { status: s } = await containerInfo(ctx, c.id);
        return s.state === 'CONTAINER_EXITED' && s;
      },
      { timeout: 30_000, what: 'the memory hog to be killed' },
    );
    assert.equal(status.reason, 'OOMKilled', JSON.stringify(status));
    assert.equal(status.exit_code, 137);
  });

  criTest(handler, 'a container restarted in its pod (attempt 1), as kubelet restarts one', async () => {
    const first = await startContainer(ctx, pod, 'again', ['sh', '-c', 'echo run-1; exit 1']);
    extra.push(first.id);
    await waitFor(async () => (await containerInfo(ctx, first.id)).status.state === 'CONTAINER_EXITED', {
      timeout: 10_000,
      what: 'the first attempt to exit',
    });
    const second = await startContainer(ctx, pod, 'again', ['sh', '-c', 'echo run-2; exec sleep 100000'], {
      attempt: 1,
    });
    extra.push(second.id);
    const { status } = await containerInfo(ctx, second.id);
    assert.equal(status.state, 'CONTAINER_RUNNING');
    assert.equal(status.metadata.attempt, 1);
    await waitFor(() => readCriLog(second.logPath).some((l) => l.text === 'run-2'), {
      timeout: 5_000,
      what: "the second attempt's log",
    });
    assert.deepEqual(
      readCriLog(first.logPath).map((l) => l.text),
      ['run-1'],
    );
    // kubelet removes the dead attempt; the live one is untouched.
    await ctx.cri.RemoveContainer({ container_id: first.id });
    assert.equal((await containerInfo(ctx, second.id)).status.state, 'CONTAINER_RUNNING');
  });

  criTest(handler, 'a container with a tty (tty: true, stdin: true): its pty output in the log', async () => {
    const c = await startContainer(ctx, pod, 'tty', ['sh', '-c', 'tty; echo tty-ok; exec sleep 100000'], {
      tty: true,
    });
    extra.push(c.id);
    await waitFor(() => readCriLog(c.logPath).some((l) => l.text.replace(/\r$/, '') === 'tty-ok'), {
      timeout: 5_000,
      what: `tty-ok in ${c.logPath}`,
    });
    const lines = readCriLog(c.logPath).map((l) => l.text.replace(/\r$/, ''));
    assert.match(lines[0], /^\/dev\/pts\/\d+$/, lines.join('\n'));
    const r = await execSync(ctx, c.id, ['readlink', '/proc/1/fd/0']);
    assert.match(r.out, /^\/dev\/pts\/\d+\n$/, r.out + r.err);
    await ctx.cri.StopContainer({ container_id: c.id, timeout: 0 });
    assert.equal((await containerInfo(ctx, c.id)).status.state, 'CONTAINER_EXITED');
  });

  criTest(
    handler,
    "kubelet's mounts: /etc/hosts, /dev/termination-log, a read-only hostPath volume",
    async () => {
      const vol = fs.mkdtempSync(path.join(ctx.dir, 'vol-'));
      const hosts = path.join(vol, 'etc-hosts');
      const term = path.join(vol, 'termination-log');
      const data = path.join(vol, 'data');
      fs.writeFileSync(hosts, '127.0.0.1 localhost\n10.1.2.3 husk-cri-test\n');
      fs.writeFileSync(term, '');
      fs.mkdirSync(data);
      fs.writeFileSync(path.join(data, 'in'), 'from-the-host\n');
      const c = await startContainer(
        ctx,
        pod,
        'volumes',
        ['sh', '-c', 'echo bye >/dev/termination-log; exec sleep 100000'],
        {
          mounts: [
            { container_path: '/etc/hosts', host_path: hosts },
            { container_path: '/dev/termination-log', host_path: term },
            { container_path: '/data', host_path: data, readonly: true },
          ],
        },
      );
      extra.push(c.id);
      const h = await execSync(ctx, c.id, ['cat', '/etc/hosts']);
      assert.match(h.out, /husk-cri-test/);
      const d = await execSync(ctx, c.id, ['cat', '/data/in']);
      assert.equal(d.out, 'from-the-host\n');
      const w = await execSync(ctx, c.id, ['sh', '-c', 'echo x >/data/new']);
      assert.notEqual(w.code, 0, 'the read-only volume refused a write');
      assert.match(w.err, /Read-only file system/i);
      await waitFor(() => fs.readFileSync(term, 'utf8') === 'bye\n', {
        timeout: 5_000,
        what: 'the termination message on the host',
      });
    },
  );

  criTest(
    handler,
    'a container whose binary is missing: StartContainer fails, the status says why',
    async (t) => {
      const { createContainer } = await import('./pods.mjs');
      const c = await createContainer(ctx, pod, 'broken', ['/no/such/binary']);
      extra.push(c.id);
      const err = await ctx.cri.StartContainer({ container_id: c.id }).then(
        () => null,
        (e) => e,
      );
      assert.ok(err, 'StartContainer of a missing binary failed');
      const { status } = await containerInfo(ctx, c.id);
      assert.equal(status.state, 'CONTAINER_EXITED', JSON.stringify(status));
      assert.equal(status.reason, 'StartError');
      assert.match(status.message, /\/no\/such\/binary/);
      assert.match(status.message, /no such file or directory|not found/i);
      if (handler.startsWith('husk'))
        // husk names where in the config the path came from.
        assert.match(status.message, /\/process\/args\/0: /, status.message);
      t.diagnostic(`${handler}: ${status.message}`);
    },
  );

  criTest(handler, 'the pod removed leaves no cgroup, mount, netns file, process or state dir', async () => {
    const left = await removePodAndList(pod, [a.id, b.id, ...extra], netnsPath);
    assert.deepEqual(left, []);
  });

  criTest(handler, 'shareProcessNamespace: the containers join the sandbox pid namespace', async () => {
    const p = await runPod(ctx, handler, { name: `shared-${handler}`, sharePid: true });
    const { info } = await sandboxInfo(ctx, p.id);
    const c1 = await startContainer(ctx, p, 'one', SLEEP);
    const c2 = await startContainer(ctx, p, 'two', ['sh', '-c', 'exec sleep 100001']);
    for (const c of [c1, c2]) {
      const r = await execSync(ctx, c.id, ['readlink', '/proc/self/ns/pid']);
      assert.equal(r.out.trim(), nsOf(info.pid, 'pid'), `${c.name} is in the sandbox's pid namespace`);
    }
    const init = await execSync(ctx, c1.id, ['cat', '/proc/1/cmdline']);
    assert.equal(init.out.replaceAll('\0', ''), '/pause', 'pid 1 is the sandbox');
    const ps = await execSync(ctx, c1.id, ['ps', '-o', 'args']);
    assert.ok(ps.out.includes('sleep 100001'), `one sees two's process:\n${ps.out}`);
    const netns = info.runtimeSpec.linux.namespaces.find((n) => n.type === 'network').path;
    const left = await removePodAndList(p, [c1.id, c2.id], netns);
    assert.deepEqual(left, []);
  });
}
