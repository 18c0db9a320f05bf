#!/usr/bin/env node
// Boots the Debian 12 guest (scripts/guest/build-image.sh) and runs one script in it as root:
//
//   node scripts/guest/run.mjs [--cgroup v2|hybrid|v1] [--accel auto|kvm|tcg] [--timeout S]
//                              [--src DIR] [--keep-log FILE] [--pack] SCRIPT [ARGS...]
//
// The checkout (--src, default this repository) is shared read-only over 9p (tag "src"), a fresh
// job directory read-write (tag "job"). SCRIPT runs in the guest with HUSK_SRC=/mnt/src and
// HUSK_JOB=/mnt/job; its output is printed here and its exit code is this command's. The disk is
// booted with snapshot=on, so every run starts from the cached image. --pack also puts the
// checkout, less its git history and build tools, in job/src.tar: under TCG 9p moves files
// slowly one by one (~3000 files: minutes), one file quickly.
//
// Exit codes: the job's, or 124 when the job ran out of time, or 125 when no guest could be
// booted here (the first line of stderr, prefixed "guest: cannot boot:", says why).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const CACHE = process.env.HUSK_GUEST_CACHE || '/var/cache/husk-guest';
export const CANNOT_BOOT = 125;
// Not needed in the guest: the history, the host's results, and the build tools (the bundle
// needs only yargs at run time).
const PACK_EXCLUDES = [
  '.git',
  'conformance/results',
  'node_modules/typescript',
  'node_modules/prettier',
  'node_modules/@esbuild',
  'node_modules/esbuild',
  'node_modules/@types',
  'node_modules/node-gyp',
  'build/Release/obj.target',
];

function parseArgs(argv) {
  const o = { cgroup: 'v2', accel: 'auto', timeout: 1800, src: path.resolve(here, '..', '..'), log: null };
  while (argv.length && argv[0].startsWith('--')) {
    const flag = argv.shift();
    const val = argv.shift();
    if (flag === '--cgroup') o.cgroup = val;
    else if (flag === '--accel') o.accel = val;
    else if (flag === '--timeout') o.timeout = Number(val);
    else if (flag === '--src') o.src = path.resolve(val);
    else if (flag === '--keep-log') o.log = path.resolve(val);
    else if (flag === '--pack') {
      o.pack = true;
      argv.unshift(val);
    } else throw new Error(`run.mjs: unknown flag ${flag}`);
  }
  if (!['v2', 'hybrid', 'v1'].includes(o.cgroup))
    throw new Error(`run.mjs: --cgroup ${o.cgroup}: v2, hybrid or v1`);
  if (!['auto', 'kvm', 'tcg'].includes(o.accel))
    throw new Error(`run.mjs: --accel ${o.accel}: auto, kvm or tcg`);
  if (!argv.length) throw new Error('run.mjs: no script to run in the guest');
  o.script = path.resolve(argv.shift());
  o.args = argv;
  return o;
}

function cannotBoot(why) {
  console.error(`guest: cannot boot: ${why}`);
  process.exit(CANNOT_BOOT);
}

const CGROUP_ARGS = {
  v2: ['systemd.unified_cgroup_hierarchy=1'],
  hybrid: ['systemd.unified_cgroup_hierarchy=0'],
  // systemd 252 mounts pure v1 with the legacy controller; newer systemd also wants the force flag.
  v1: [
    'systemd.unified_cgroup_hierarchy=0',
    'systemd.legacy_systemd_cgroup_controller=1',
    'SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1',
  ],
};

function qemuArgv(img, o, accel, jobDir, serial) {
  const cmdline = ['root=/dev/vda', 'rw', 'console=ttyS0', 'panic=-1', 'quiet', ...CGROUP_ARGS[o.cgroup]];
  const nproc = Math.max(1, Math.min(2, os.availableParallelism()));
  return [
    ...(accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi', '-cpu', 'max']),
    '-machine',
    'q35',
    '-smp',
    String(nproc),
    '-m',
    '4096',
    '-kernel',
    path.join(img, 'vmlinuz'),
    '-initrd',
    path.join(img, 'initrd.img'),
    '-append',
    cmdline.join(' '),
    '-drive',
    `file=${path.join(img, 'disk.raw')},if=virtio,format=raw,snapshot=on,cache=unsafe`,
    '-virtfs',
    `local,path=${o.src},mount_tag=src,security_model=none,readonly=on`,
    '-virtfs',
    `local,path=${jobDir},mount_tag=job,security_model=none`,
    '-nic',
    'none',
    '-display',
    'none',
    '-monitor',
    'none',
    '-serial',
    `file:${serial}`,
    '-no-reboot',
  ];
}

function serialText(serial) {
  try {
    return fs.readFileSync(serial, 'latin1');
  } catch {
    return '';
  }
}

// What a signal to this process must not leave behind: the running qemu and the job directory
// (a flock queue or a timeout ends runs by SIGTERM; the qemu would boot on, orphaned).
const live = { qemu: null, jobDir: null };
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'])
  process.on(sig, () => {
    live.qemu?.kill('SIGKILL');
    if (live.jobDir) fs.rmSync(live.jobDir, { recursive: true, force: true });
    process.exit(128 + os.constants.signals[sig]);
  });

/** Boots once; resolves { code, signal, bootMs, timedOut } when qemu exits. */
function boot(img, o, accel, jobDir, serial, { limitMs, firstOutputMs }) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const q = spawn('qemu-system-x86_64', qemuArgv(img, o, accel, jobDir, serial), {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    live.qemu = q;
    let stderr = '';
    q.stderr.on('data', (d) => (stderr += d));
    let bootMs = null;
    let timedOut = false;
    let silent = false;
    const tick = setInterval(() => {
      const text = serialText(serial);
      const elapsed = Date.now() - t0;
      if (bootMs === null && text.includes('husk-guest: job starting')) bootMs = elapsed;
      if (firstOutputMs && elapsed > firstOutputMs && !/Linux version|Welcome to|systemd/.test(text)) {
        silent = true;
        q.kill('SIGKILL');
      }
      if (elapsed > limitMs) {
        timedOut = true;
        q.kill('SIGKILL');
      }
    }, 500);
    q.on('exit', (code, signal) => {
      live.qemu = null;
      clearInterval(tick);
      resolve({ code, signal, bootMs, timedOut, silent, stderr, ms: Date.now() - t0 });
    });
  });
}

// Whether KVM boots this kernel is a property of the host's boot: probe once per boot_id.
function cachedAccel() {
  try {
    const bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const [id, accel, why] = fs.readFileSync(path.join(CACHE, 'accel'), 'utf8').trim().split('\n');
    return id === bootId ? { accel, why } : null;
  } catch {
    return null;
  }
}
function saveAccel(accel, why) {
  try {
    const bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    fs.writeFileSync(path.join(CACHE, 'accel'), `${bootId}\n${accel}\n${why}\n`);
  } catch {
    /* only a cache */
  }
}

export async function main(argv) {
  const o = parseArgs(argv);
  if (process.getuid?.() !== 0) cannotBoot('not root (the image build and the 9p shares need root)');
  if (spawnSync('sh', ['-c', 'command -v qemu-system-x86_64']).status !== 0)
    cannotBoot('no qemu-system-x86_64 (apt-get install qemu-system-x86)');
  const tb = Date.now();
  // HUSK_GUEST_IMAGE: an image directory built before (disk.raw, vmlinuz, initrd.img) instead.
  let img = process.env.HUSK_GUEST_IMAGE;
  if (!img) {
    const built = spawnSync('sh', [path.join(here, 'build-image.sh')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (built.status !== 0) cannotBoot('the guest image did not build (see above)');
    img = built.stdout.trim().split('\n').pop();
  }
  const buildMs = Date.now() - tb;

  const jobDir = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-guest-job-'));
  live.jobDir = jobDir;
  const serial = path.join(jobDir, '.serial.log');
  fs.copyFileSync(o.script, path.join(jobDir, 'run.sh'));
  if (o.pack) {
    const excludes = PACK_EXCLUDES.map((x) => `--exclude=./${x}`);
    const tar = spawnSync('tar', ['-C', o.src, ...excludes, '-cf', path.join(jobDir, 'src.tar'), '.'], {
      encoding: 'utf8',
    });
    if (tar.status !== 0) throw new Error(`run.mjs: tar of ${o.src}: ${tar.stderr}`);
  }
  fs.writeFileSync(path.join(jobDir, 'args'), o.args.map((a) => `${a}\n`).join(''));
  // The guest's own cap (guest-job.sh) counts from the job's start, after a boot that takes
  // minutes under TCG; the deadline (epoch seconds, the guest's clock is the host's) is what
  // run-suite.sh plans by, so that it cuts its own steps before this side kills the guest.
  fs.writeFileSync(path.join(jobDir, 'timeout'), String(Math.max(60, o.timeout - 60)));
  fs.writeFileSync(path.join(jobDir, 'deadline'), String(Math.floor(Date.now() / 1000) + o.timeout - 90));

  let accel = o.accel;
  let note = '';
  if (accel === 'auto') {
    const cached = cachedAccel();
    if (cached) ({ accel, why: note } = cached);
  }
  const limitMs = o.timeout * 1000;
  let r;
  if (accel === 'auto' || accel === 'kvm') {
    if (!fs.existsSync('/dev/kvm')) {
      if (o.accel === 'kvm') cannotBoot('no /dev/kvm');
      accel = 'tcg';
      note = 'no /dev/kvm';
    } else {
      // A kernel that KVM cannot run prints nothing: give it a short while, then emulate.
      r = await boot(img, o, 'kvm', jobDir, serial, {
        limitMs,
        firstOutputMs: o.accel === 'kvm' ? 0 : 20_000,
      });
      if (r.silent || (r.code !== 0 && r.bootMs === null)) {
        const why = r.silent
          ? 'KVM booted nothing in 20 s'
          : `KVM qemu exited ${r.code}: ${r.stderr.trim().split('\n')[0]}`;
        if (o.accel === 'kvm') cannotBoot(why);
        accel = 'tcg';
        note = why;
        r = null;
        fs.rmSync(serial, { force: true });
      } else accel = 'kvm';
      if (o.accel === 'auto') saveAccel(accel, note);
    }
  }
  if (!r) r = await boot(img, o, 'tcg', jobDir, serial, { limitMs });

  const out = serialText(serial);
  if (o.log) fs.copyFileSync(serial, o.log);
  const rcFile = path.join(jobDir, 'rc');
  const m = out.match(/HUSK-GUEST-RC=(\d+)/);
  let rc = fs.existsSync(rcFile) ? Number(fs.readFileSync(rcFile, 'utf8').trim()) : m ? Number(m[1]) : null;
  try {
    process.stdout.write(fs.readFileSync(path.join(jobDir, 'output')));
  } catch {
    /* no output */
  }
  const secs = (ms) => (ms === null ? '-' : (ms / 1000).toFixed(1));
  console.error(
    `guest: ${accel.toUpperCase()}${note ? ` (${note})` : ''}, cgroup ${o.cgroup}: image ${secs(buildMs)} s, ` +
      `boot ${secs(r.bootMs)} s, total ${secs(r.ms)} s, job exit ${rc ?? 'none'}`,
  );
  if (r.timedOut) {
    console.error(
      `guest: the job did not finish in ${o.timeout} s; serial console tail:\n${out.slice(-2000)}`,
    );
    rc = 124;
  } else if (rc === null) {
    if (r.bootMs === null) {
      console.error(`guest: the guest never started the job; serial console tail:\n${out.slice(-3000)}`);
      fs.rmSync(jobDir, { recursive: true, force: true });
      cannotBoot(`qemu exited ${r.code ?? r.signal} before the job started`);
    }
    console.error(`guest: the job left no exit code; serial console tail:\n${out.slice(-2000)}`);
    rc = 1;
  }
  fs.rmSync(jobDir, { recursive: true, force: true });
  return rc;
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (rc) => process.exit(rc),
    (e) => {
      console.error(e.message);
      process.exit(2);
    },
  );
}
