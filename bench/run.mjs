#!/usr/bin/env node
// husk vs runc, side by side, in one run: `node bench/run.mjs [--quick]` (root only).
//
// Own harness rather than hyperfine: the husk and runc runs of a scenario are interleaved
// (husk, runc, runc, husk, ...) so that background load on a shared machine hits both alike,
// multi-call sequences (create/start/state/delete) are timed as one sample, and every failure
// is recorded in the row instead of aborting. Each sample is one spawnSync() timed with
// process.hrtime; every timed process runs with NODE_EXTRA_CA_CERTS removed from its
// environment (Node would otherwise read and parse a CA bundle at every start-up).
//
// Writes bench/results/latest.{md,json} (quick mode: bench/results/quick.{md,json}) and prints
// the table. See bench/README.md for what each row means.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..');

const USAGE = `usage: node bench/run.mjs [options]
  --quick          few runs, for a CI smoke test (about a minute)
  --runs N         samples per scenario for scenarios 1-4 (overrides the mode)
  --only LIST      run only these scenarios, e.g. --only 1,4,7
  --husk PATH      husk executable (default: bin/husk of this repo)
  --runc PATH      runc executable (default: /usr/sbin/runc, else runc on PATH)
  --out DIR        where to write the results (default: bench/results)
  --in-place       time husk where it is built, not a copy taken at the start
  -h, --help       this text`;

const MODES = {
  quick: {
    warmup: 1,
    run: 5,
    engine: 5,
    exec: 5,
    state: 10,
    batchReps: 1,
    rssInit: 3,
    rssCli: 5,
    lib: 20,
    libWarmup: 2,
  },
  default: {
    warmup: 3,
    run: 30,
    engine: 20,
    exec: 30,
    state: 50,
    batchReps: 3,
    rssInit: 5,
    rssCli: 10,
    lib: 200,
    libWarmup: 5,
  },
};
const BATCH_N = 50;
const BATCH_PAR = 8;
const CALL_TIMEOUT_MS = 30_000;

// ---------------------------------------------------------------------------------------------
// Arguments and environment

let opts;
try {
  opts = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      only: { type: 'string' },
      husk: { type: 'string' },
      runc: { type: 'string' },
      out: { type: 'string' },
      'in-place': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }).values;
} catch (e) {
  console.error(`bench: ${e.message}\n${USAGE}`);
  process.exit(2);
}
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}
const modeName = opts.quick ? 'quick' : 'default';
const M = { ...MODES[modeName] };
if (opts.runs !== undefined) {
  const n = Number(opts.runs);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench: --runs must be a positive integer`);
    process.exit(2);
  }
  M.run = M.engine = M.exec = M.state = n;
}
const only = opts.only ? new Set(opts.only.split(',').map((s) => s.trim())) : null;
const want = (n) => !only || only.has(String(n));

// Everything timed runs with this environment.
const ENV = { ...process.env };
delete ENV.NODE_EXTRA_CA_CERTS;

function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir || '.', cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

const HUSK = path.resolve(opts.husk ?? path.join(REPO, 'bin', 'husk'));
const RUNC = opts.runc
  ? path.resolve(opts.runc)
  : fs.existsSync('/usr/sbin/runc')
    ? '/usr/sbin/runc'
    : which('runc');
const TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
const libOf = (bin) => path.join(path.dirname(bin), '..', 'dist', 'lib.js');
const OUT_DIR = path.resolve(opts.out ?? path.join(HERE, 'results'));

// ---------------------------------------------------------------------------------------------
// Interruption and cleanup

let interrupted = false;
let cleanupFn = null;
const children = new Set(); // async children (batch runs, the library worker)
class Interrupted extends Error {}

function onSignal(sig) {
  if (interrupted) {
    // Second signal: clean up now, synchronously, and leave.
    console.error(`bench: ${sig} again, cleaning up and exiting`);
    cleanupFn?.();
    process.exit(130);
  }
  interrupted = true;
  console.error(`bench: ${sig}, stopping after the current call and cleaning up (again to force)`);
  for (const c of children) c.kill('SIGTERM');
}
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));
process.on('SIGHUP', () => onSignal('SIGHUP'));

// Yield to the event loop (so a signal handler can run) and stop if interrupted.
async function checkpoint() {
  await new Promise((r) => setImmediate(r));
  if (interrupted) throw new Interrupted('interrupted');
}

// ---------------------------------------------------------------------------------------------
// Statistics and formatting

function stats(values) {
  if (!values.length) return null;
  const v = [...values].sort((a, b) => a - b);
  const q = (p) => {
    const i = (v.length - 1) * p;
    const lo = Math.floor(i);
    return v[lo] + (v[Math.min(lo + 1, v.length - 1)] - v[lo]) * (i - lo);
  };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, v.length - 1));
  const r = (x) => Math.round(x * 1000) / 1000;
  return {
    n: v.length,
    median: r(q(0.5)),
    min: r(v[0]),
    max: r(v[v.length - 1]),
    p25: r(q(0.25)),
    p75: r(q(0.75)),
    mean: r(mean),
    sd: r(sd),
  };
}

function fmtNum(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '?';
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2);
}

const UNITS = {
  ms: { label: 'ms', scale: 1 },
  s: { label: 's', scale: 1 / 1000 }, // values stored in ms, shown in s
  'c/s': { label: 'c/s', scale: 1 },
  KiB: { label: 'MiB', scale: 1 / 1024 },
};

function fmtCell(m, unit) {
  if (!m) return '—';
  if (!m.stats) return `error: ${m.error ?? 'no samples'}`;
  const u = UNITS[unit];
  const s = m.stats;
  let cell =
    s.n > 1
      ? `${fmtNum(s.median * u.scale)} ${u.label} (${fmtNum(s.min * u.scale)}–${fmtNum(s.max * u.scale)})`
      : `${fmtNum(s.median * u.scale)} ${u.label}`;
  if (m.failures) cell += ` [${m.failures} failed: ${m.error}]`;
  return cell;
}

function ratioOf(a, b) {
  if (!a?.stats || !b?.stats || !b.stats.median) return null;
  return Math.round((a.stats.median / b.stats.median) * 100) / 100;
}

function oneLine(s) {
  return String(s ?? '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200);
}

// A measurement: samples plus failures, with the first error kept.
function measure() {
  return { samples: [], failures: 0, error: null, extra: {} };
}
function fail(m, err) {
  m.failures++;
  m.error ??= oneLine(err);
}
function finish(m) {
  const out = {
    stats: stats(m.samples),
    failures: m.failures,
    error: m.error,
    samples: m.samples.map((x) => Math.round(x * 1000) / 1000),
  };
  if (Object.keys(m.extra).length) out.extra = m.extra;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Runtimes and calls

let TMP = null;
const leakNotes = [];
let errFile = null;
let seq = 0;
const nextId = (tag) => `hb${process.pid}-${tag}-${++seq}`;

function makeRuntime(name, bin) {
  return { name, bin, root: null, live: new Set(), available: !!bin && fs.existsSync(bin), why: null };
}
const husk = makeRuntime('husk', HUSK);
const runc = makeRuntime('runc', RUNC);
const RUNTIMES = [husk, runc];

// One synchronous call of a runtime verb, timed. stdout is a pipe only when asked for (a pipe
// given to `create` would be inherited by the container and held open); stderr goes to a file
// for the same reason.
function call(rt, args, { capture = false, timeout = CALL_TIMEOUT_MS } = {}) {
  const fd = fs.openSync(errFile, 'w');
  const t0 = process.hrtime.bigint();
  const r = spawnSync(rt.bin, ['--root', rt.root, ...args], {
    env: ENV,
    stdio: ['ignore', capture ? 'pipe' : 'ignore', fd],
    encoding: 'utf8',
    timeout,
    killSignal: 'SIGKILL',
    maxBuffer: 16 << 20,
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  fs.closeSync(fd);
  const ok = !r.error && r.status === 0;
  let err = null;
  if (!ok) {
    const text = fs.readFileSync(errFile, 'utf8').trim();
    const why = r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit ${r.status}`;
    err = `${rt.name} ${args[0]}: ${text.split('\n').filter(Boolean).pop() ?? ''} (${why})`;
  }
  return { ok, ms, stdout: r.stdout ?? '', err };
}

function forceDelete(rt, id) {
  try {
    call(rt, ['delete', '--force', id], { timeout: 10_000 });
  } catch {
    /* best effort */
  }
  rt.live.delete(id);
}

function stateOf(rt, id) {
  const r = call(rt, ['state', id], { capture: true });
  if (!r.ok) return { ok: false, err: r.err, ms: r.ms };
  try {
    return { ok: true, state: JSON.parse(r.stdout), ms: r.ms };
  } catch (e) {
    return { ok: false, err: `${rt.name} state: bad JSON: ${e.message}`, ms: r.ms };
  }
}

// Alternate which runtime goes first, so neither always runs right after the other.
function order(i, list) {
  return i % 2 ? [...list].reverse() : list;
}

// ---------------------------------------------------------------------------------------------
// A copy of the husk build, taken at the start: other work may rebuild dist/ and build/Release
// while the bench runs, and a run must not time (or fail on) a half-written build.

const SNAPSHOT_FILES = [
  'bin/husk',
  'dist/husk.js',
  'dist/lib.js',
  'dist/generated/validators.js',
  'build/Release/husk_native.node',
  'build/Release/husk-init',
];

function sleepMs(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// Returns the snapshot's bin/husk, or throws why it could not make one.
function snapshotHusk(dest) {
  const src = path.resolve(path.dirname(HUSK), '..');
  let missing = [];
  for (let i = 0; i < 10; i++) {
    missing = SNAPSHOT_FILES.filter((f) => !fs.existsSync(path.join(src, f)));
    if (!missing.length) break;
    sleepMs(2000); // a build in progress
  }
  if (missing.length) throw new Error(`${src}: missing ${missing.join(', ')}`);
  fs.rmSync(dest, { recursive: true, force: true });
  fs.mkdirSync(path.join(dest, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(dest, 'build', 'Release'), { recursive: true });
  fs.cpSync(path.join(src, 'dist'), path.join(dest, 'dist'), { recursive: true });
  for (const f of SNAPSHOT_FILES.filter((f) => !f.startsWith('dist/'))) {
    fs.copyFileSync(path.join(src, f), path.join(dest, f));
    fs.chmodSync(path.join(dest, f), fs.statSync(path.join(src, f)).mode & 0o7777);
  }
  if (fs.existsSync(path.join(src, 'node_modules')))
    fs.symlinkSync(path.join(src, 'node_modules'), path.join(dest, 'node_modules'));
  return path.join(dest, 'bin', 'husk');
}

// ---------------------------------------------------------------------------------------------
// Bundles

function makeBundle(dir, args, rootfs) {
  fs.mkdirSync(dir, { recursive: true });
  let how = 'husk spec';
  let r = spawnSync(husk.bin, ['spec', '--bundle', dir], { env: ENV, encoding: 'utf8' });
  if (r.status !== 0 && runc.available) {
    how = 'runc spec (husk spec failed: ' + oneLine(r.stderr || r.error?.message) + ')';
    r = spawnSync(RUNC, ['spec', '--bundle', dir], { env: ENV, encoding: 'utf8' });
  }
  if (r.status !== 0)
    throw new Error(`cannot generate config.json: ${oneLine(r.stderr || r.error?.message)}`);
  const file = path.join(dir, 'config.json');
  const c = JSON.parse(fs.readFileSync(file, 'utf8'));
  c.process.terminal = false;
  c.process.args = args;
  c.root = { path: rootfs, readonly: true };
  c.hostname = 'bench';
  c.mounts = (c.mounts ?? []).filter((m) => m.destination !== '/tmp');
  c.mounts.push({
    destination: '/tmp',
    type: 'tmpfs',
    source: 'tmpfs',
    options: ['nosuid', 'nodev', 'mode=1777'],
  });
  fs.writeFileSync(file, JSON.stringify(c, null, 2));
  return how;
}

// ---------------------------------------------------------------------------------------------
// Scenarios. Each returns rows; a row is { id, name, unit, husk, runc, ratio, ratioLabel, note }.

// 1. `run` of /bin/true.
async function scenarioRun(B) {
  const res = { husk: measure(), runc: measure() };
  const rts = RUNTIMES.filter((r) => r.available);
  for (let i = 0; i < M.warmup + M.run; i++) {
    for (const rt of order(i, rts)) {
      const id = nextId('run');
      rt.live.add(id);
      const r = call(rt, ['run', '--bundle', B.true, id]);
      if (r.ok) {
        rt.live.delete(id);
        if (i >= M.warmup) res[rt.name].samples.push(r.ms);
      } else {
        fail(res[rt.name], r.err);
        forceDelete(rt, id);
      }
    }
    await checkpoint();
  }
  return [row('1', '`run` /bin/true (create+start+wait+delete, one call)', 'ms', res)];
}

// 2. The engine path: create, start, state until stopped, delete.
async function scenarioEngine(B) {
  const res = { husk: measure(), runc: measure() };
  const polls = { husk: [], runc: [] };
  const steps = { husk: {}, runc: {} }; // per-verb times, for the JSON
  const rts = RUNTIMES.filter((r) => r.available);
  for (let i = 0; i < M.warmup + M.engine; i++) {
    for (const rt of order(i, rts)) {
      const id = nextId('eng');
      rt.live.add(id);
      let ms = 0;
      let err = null;
      let n = 0;
      const mine = {};
      const step = (args, capture) => {
        const r = call(rt, args, { capture });
        ms += r.ms;
        mine[args[0]] = (mine[args[0]] ?? 0) + r.ms;
        if (!r.ok) err ??= r.err;
        return r;
      };
      step(['create', '--bundle', B.true, id]);
      if (!err) step(['start', id]);
      if (!err) {
        const deadline = Date.now() + 10_000;
        for (;;) {
          n++;
          const r = step(['state', id], true);
          if (err) break;
          let status;
          try {
            status = JSON.parse(r.stdout).status;
          } catch (e) {
            err = `${rt.name} state: bad JSON: ${e.message}`;
            break;
          }
          if (status === 'stopped') break;
          if (Date.now() > deadline) {
            err = `${rt.name}: still "${status}" 10 s after start`;
            break;
          }
        }
      }
      if (!err) step(['delete', id]);
      if (err) {
        fail(res[rt.name], err);
        forceDelete(rt, id);
      } else {
        rt.live.delete(id);
        if (i >= M.warmup) {
          res[rt.name].samples.push(ms);
          polls[rt.name].push(n);
          for (const [verb, t] of Object.entries(mine)) (steps[rt.name][verb] ??= []).push(t);
        }
      }
    }
    await checkpoint();
  }
  for (const k of ['husk', 'runc']) {
    if (polls[k].length) res[k].extra.statePollsMean = polls[k].reduce((a, b) => a + b, 0) / polls[k].length;
    const med = Object.entries(steps[k]).map(([verb, v]) => [verb, stats(v).median]);
    if (med.length) res[k].extra.medianMsPerVerb = Object.fromEntries(med);
  }
  return [
    row('2', 'engine path: `create`, `start`, `state` until stopped, `delete` (sum of the calls)', 'ms', res),
  ];
}

// Long-running `sleep 1000` containers, one per runtime, for scenarios 3, 4 and 6b.
function startSleepers(B) {
  const sleepers = {};
  for (const rt of RUNTIMES.filter((r) => r.available)) {
    const id = nextId('sleep');
    rt.live.add(id);
    let r = call(rt, ['create', '--bundle', B.sleep, id]);
    if (r.ok) r = call(rt, ['start', id]);
    if (r.ok) {
      const s = stateOf(rt, id);
      if (!s.ok) r = { ok: false, err: s.err };
      else if (s.state.status !== 'running')
        r = { ok: false, err: `${rt.name}: sleeper is "${s.state.status}", not running` };
    }
    sleepers[rt.name] = r.ok ? { id } : { error: r.err };
    if (!r.ok) forceDelete(rt, id);
  }
  return sleepers;
}

function stopSleepers(sleepers) {
  for (const rt of RUNTIMES) {
    const s = sleepers?.[rt.name];
    if (s?.id) {
      call(rt, ['kill', s.id, 'KILL'], { timeout: 10_000 });
      forceDelete(rt, s.id);
    }
  }
}

// 3. exec of /bin/true into a running container.
async function scenarioExec(sleepers) {
  const res = { husk: measure(), runc: measure() };
  const rts = RUNTIMES.filter((r) => r.available && sleepers[r.name]?.id);
  for (const rt of RUNTIMES) if (sleepers[rt.name]?.error) res[rt.name].error = sleepers[rt.name].error;
  for (let i = 0; i < M.warmup + M.exec; i++) {
    for (const rt of order(i, rts)) {
      const r = call(rt, ['exec', sleepers[rt.name].id, '/bin/true']);
      if (r.ok) {
        if (i >= M.warmup) res[rt.name].samples.push(r.ms);
      } else fail(res[rt.name], r.err);
    }
    await checkpoint();
  }
  return [row('3', '`exec` /bin/true into a running container', 'ms', res)];
}

// 4. state of an existing container, and `node -e 0` as the floor of any Node CLI.
async function scenarioState(sleepers) {
  const res = { husk: measure(), runc: measure() };
  const node = measure();
  const rts = RUNTIMES.filter((r) => r.available && sleepers[r.name]?.id);
  for (const rt of RUNTIMES) if (sleepers[rt.name]?.error) res[rt.name].error = sleepers[rt.name].error;
  const nodeBin = which('node') ?? process.execPath;
  const jobs = [...rts, 'node'];
  for (let i = 0; i < M.warmup + M.state; i++) {
    // Rotate the three so each goes first equally often.
    const k = i % jobs.length;
    for (const job of [...jobs.slice(k), ...jobs.slice(0, k)]) {
      if (job === 'node') {
        const t0 = process.hrtime.bigint();
        const r = spawnSync(nodeBin, ['-e', '0'], { env: ENV, stdio: 'ignore', timeout: CALL_TIMEOUT_MS });
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (r.status === 0) {
          if (i >= M.warmup) node.samples.push(ms);
        } else fail(node, `node -e 0: ${r.error?.message ?? `exit ${r.status}`}`);
        continue;
      }
      const r = call(job, ['state', sleepers[job.name].id], { capture: true });
      if (r.ok) {
        if (i >= M.warmup) res[job.name].samples.push(r.ms);
      } else fail(res[job.name], r.err);
    }
    await checkpoint();
  }
  const main = row('4a', '`state` of a running container (fixed cost of one CLI call)', 'ms', res);
  const n = finish(node);
  const base = {
    id: '4b',
    name: `\`node -e 0\` baseline (${nodeBin} ${process.version}); ratio = husk \`state\` ÷ node`,
    unit: 'ms',
    husk: null,
    runc: null,
    node: n,
    ratio: ratioOf(main.husk, n),
    ratioLabel: 'husk/node',
  };
  base.runcOverNode = ratioOf(main.runc, n);
  return [main, base];
}

// 5. 50 `run`s of /bin/true, 8 at a time.
function spawnAsync(rt, args) {
  return new Promise((resolve) => {
    let stderr = '';
    let child;
    try {
      child = spawn(rt.bin, ['--root', rt.root, ...args], { env: ENV, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      resolve({ ok: false, err: e.message });
      return;
    }
    children.add(child);
    const timer = setTimeout(() => child.kill('SIGKILL'), CALL_TIMEOUT_MS);
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (e) => (stderr += e.message));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      const why = signal ? `killed by ${signal}` : `exit ${code}`;
      resolve({
        ok: code === 0,
        err: code === 0 ? null : `${rt.name} ${args[0]}: ${stderr.trim().split('\n').pop() ?? ''} (${why})`,
      });
    });
  });
}

async function batch(rt, bundle) {
  const ids = Array.from({ length: BATCH_N }, () => nextId('batch'));
  let next = 0;
  let ok = 0;
  const errors = [];
  const t0 = process.hrtime.bigint();
  const worker = async () => {
    while (next < ids.length && !interrupted) {
      const id = ids[next++];
      rt.live.add(id);
      const r = await spawnAsync(rt, ['run', '--bundle', bundle, id]);
      if (r.ok) {
        ok++;
        rt.live.delete(id);
      } else errors.push(r.err);
    }
  };
  await Promise.all(Array.from({ length: BATCH_PAR }, worker));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  for (const id of ids) if (rt.live.has(id)) forceDelete(rt, id);
  return { ms, ok, errors };
}

async function scenarioBatch(B) {
  const wall = { husk: measure(), runc: measure() };
  const rate = { husk: measure(), runc: measure() };
  const rts = RUNTIMES.filter((r) => r.available);
  for (let i = 0; i < M.batchReps; i++) {
    for (const rt of order(i, rts)) {
      const r = await batch(rt, B.true);
      await checkpoint();
      if (r.errors.length) {
        fail(wall[rt.name], `${r.errors.length}/${BATCH_N} runs failed, first: ${r.errors[0]}`);
        fail(rate[rt.name], `${r.errors.length}/${BATCH_N} runs failed`);
      } else {
        wall[rt.name].samples.push(r.ms);
        rate[rt.name].samples.push((BATCH_N * 1000) / r.ms);
      }
    }
  }
  return [
    row('5a', `${BATCH_N} × \`run\` /bin/true, ${BATCH_PAR} at a time: wall time`, 's', wall),
    row(
      '5b',
      `${BATCH_N} × \`run\` /bin/true, ${BATCH_PAR} at a time: containers per second (higher is better)`,
      'c/s',
      rate,
    ),
  ];
}

// 6. Memory: the init while it waits in `created`, and the peak RSS of one `state` call.
function procStatus(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  let pss = NaN;
  try {
    pss = Number(/^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? NaN);
  } catch {
    /* older kernel */
  }
  return { rss: get('VmRSS'), hwm: get('VmHWM'), pss, name: /^Name:\s+(.*)$/m.exec(text)?.[1] };
}

async function scenarioRssInit(B) {
  const res = { husk: measure(), runc: measure() };
  const pss = { husk: [], runc: [] };
  const rts = RUNTIMES.filter((r) => r.available);
  for (let i = 0; i < M.rssInit; i++) {
    for (const rt of order(i, rts)) {
      const id = nextId('rss');
      rt.live.add(id);
      const r = call(rt, ['create', '--bundle', B.true, id]);
      if (!r.ok) {
        fail(res[rt.name], r.err);
        forceDelete(rt, id);
        continue;
      }
      const s = stateOf(rt, id);
      try {
        if (!s.ok) throw new Error(s.err);
        if (s.state.status !== 'created') throw new Error(`status is "${s.state.status}", not created`);
        const st = procStatus(s.state.pid);
        res[rt.name].samples.push(st.rss);
        if (Number.isFinite(st.pss)) pss[rt.name].push(st.pss);
        res[rt.name].extra.processName = st.name;
        res[rt.name].extra.vmHWMKiB = Math.max(res[rt.name].extra.vmHWMKiB ?? 0, st.hwm);
      } catch (e) {
        fail(res[rt.name], `${rt.name}: init of a created container: ${e.message}`);
      }
      forceDelete(rt, id);
    }
    await checkpoint();
  }
  for (const k of ['husk', 'runc']) if (pss[k].length) res[k].extra.pssKiB = stats(pss[k]);
  return [row('6a', 'RSS (VmRSS) of the container init waiting in `created`', 'KiB', res)];
}

async function scenarioRssCli(sleepers) {
  const res = { husk: measure(), runc: measure() };
  for (const rt of RUNTIMES) if (sleepers[rt.name]?.error) res[rt.name].error = sleepers[rt.name].error;
  const rts = RUNTIMES.filter((r) => r.available && sleepers[r.name]?.id);
  if (!TIME) {
    for (const rt of rts) res[rt.name].error = 'no /usr/bin/time (apt-get install time)';
  } else {
    for (let i = 0; i < M.rssCli; i++) {
      for (const rt of order(i, rts)) {
        const r = spawnSync(TIME, ['-f', '%M', rt.bin, '--root', rt.root, 'state', sleepers[rt.name].id], {
          env: ENV,
          stdio: ['ignore', 'ignore', 'pipe'],
          encoding: 'utf8',
          timeout: CALL_TIMEOUT_MS,
        });
        const last = (r.stderr ?? '').trim().split('\n').pop();
        if (r.status === 0 && /^\d+$/.test(last)) res[rt.name].samples.push(Number(last));
        else
          fail(
            res[rt.name],
            `${rt.name} state under time: ${oneLine(r.stderr || r.error?.message)} (exit ${r.status})`,
          );
      }
      await checkpoint();
    }
  }
  if (TIME) {
    const nodeBin = which('node') ?? process.execPath;
    const kib = [];
    for (let i = 0; i < 3; i++) {
      const r = spawnSync(TIME, ['-f', '%M', nodeBin, '-e', '0'], {
        env: ENV,
        stdio: ['ignore', 'ignore', 'pipe'],
        encoding: 'utf8',
      });
      const last = (r.stderr ?? '').trim().split('\n').pop();
      if (r.status === 0 && /^\d+$/.test(last)) kib.push(Number(last));
    }
    if (kib.length) {
      res.husk.extra.nodeBaselineKiB = stats(kib).median;
      leakNotes.push(
        `6b: for scale, \`node -e 0\` alone peaks at ${(stats(kib).median / 1024).toFixed(1)} MiB`,
      );
    }
  }
  return [row('6b', 'peak RSS of one `state` call (`/usr/bin/time -f %M`)', 'KiB', res)];
}

// 7. The in-process library: run() in one Node process vs spawning `runc run`, in a worker.
async function scenarioLib(B) {
  const res = { husk: measure(), runc: measure() };
  const name = `library \`run()\` in one Node process (${M.lib} containers) vs spawning \`runc run\``;
  if (!fs.existsSync(libOf(husk.bin))) {
    res.husk.error = `${libOf(HUSK)} does not exist (npm run build)`;
    res.runc.error = 'not run: the library is unavailable';
    return [row('7', name, 'ms', res)];
  }
  const outFile = path.join(TMP, 'lib-result.json');
  const cfg = {
    lib: libOf(husk.bin),
    huskRoot: husk.root,
    runc: runc.available ? RUNC : '/nonexistent/runc',
    runcRoot: runc.root,
    bundle: B.true,
    n: M.lib,
    warmup: M.libWarmup,
    idPrefix: `hb${process.pid}-lib`,
    outFile,
  };
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(HERE, 'lib-worker.mjs'), JSON.stringify(cfg)], {
      env: ENV,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.add(child);
    let stderr = '';
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000 + (M.lib + M.libWarmup) * 2_000);
    child.on('error', (e) => (stderr += e.message));
    child.on('close', (c, sig) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ c, sig, stderr });
    });
  });
  await checkpoint();
  let out;
  try {
    out = JSON.parse(fs.readFileSync(outFile, 'utf8'));
  } catch (e) {
    const why = code.sig ? `killed by ${code.sig}` : `exit ${code.c}`;
    res.husk.error = `library worker died (${why}): ${oneLine(code.stderr.split('\n').filter(Boolean).pop())}`;
    res.runc.error = res.husk.error;
    return [row('7', name, 'ms', res)];
  }
  res.husk.samples = out.lib.samples;
  res.husk.failures = out.lib.failures;
  res.husk.error = out.error ?? out.lib.firstError;
  if (out.afterWarmup && out.atEnd) {
    res.husk.extra.process = { afterWarmup: out.afterWarmup, atEnd: out.atEnd };
    const a = out.afterWarmup;
    const b = out.atEnd;
    if (b.fds > a.fds)
      leakNotes.push(
        `7: the library process holds ${b.fds - a.fds} more fd(s) after ${M.lib} containers (${a.fds} → ${b.fds})`,
      );
    if (b.sigintListeners > a.sigintListeners)
      leakNotes.push(`7: SIGINT listeners grew ${a.sigintListeners} → ${b.sigintListeners}`);
    if (b.rssKiB > a.rssKiB + 20 * 1024)
      leakNotes.push(
        `7: the library process grew from ${(a.rssKiB / 1024).toFixed(1)} to ${(b.rssKiB / 1024).toFixed(1)} MiB RSS over ${M.lib} containers`,
      );
  }
  res.runc.samples = out.runc.samples;
  res.runc.failures = out.runc.failures;
  res.runc.error = out.runc.firstError;
  if (!res.runc.samples.length && !res.runc.error) res.runc.error = 'not run: the library failed';
  if (!runc.available) res.runc = { samples: [], failures: 0, error: 'runc not found', extra: {} };
  // Anything the library left behind in the husk root is cleaned up with the rest.
  return [row('7', name, 'ms', res)];
}

function row(id, name, unit, res) {
  const h = finish(res.husk);
  const r = finish(res.runc);
  for (const [rt, m] of [
    [husk, h],
    [runc, r],
  ]) {
    if (!rt.available && !m.stats) m.error = rt.why;
  }
  return { id, name, unit, husk: h, runc: r, ratio: ratioOf(h, r), ratioLabel: 'husk/runc' };
}

// ---------------------------------------------------------------------------------------------
// Report

function version(bin, args) {
  const r = spawnSync(bin, args, { env: ENV, encoding: 'utf8', timeout: 10_000 });
  return r.status === 0
    ? oneLine(r.stdout.split('\n').slice(0, 2).join(', '))
    : `unknown (${oneLine(r.stderr || r.error?.message)})`;
}

function gitInfo() {
  const r = spawnSync('git', ['-C', REPO, 'rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' });
  const d = spawnSync('git', ['-C', REPO, 'status', '--porcelain', '--', 'src', 'addon', 'scripts'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return 'unknown';
  return r.stdout.trim() + (d.stdout?.trim() ? ' (+ uncommitted changes in src/addon/scripts)' : '');
}

function markdown(report) {
  const m = report.meta;
  const lines = [];
  lines.push(`# husk vs runc — ${m.mode} mode`, '');
  lines.push(
    `${m.date} · ${m.host.cpus} × ${m.host.cpuModel} · Linux ${m.host.kernel} · load average ${m.loadStart.join(' ')} at start, ${m.loadEnd.join(' ')} at end`,
    '',
  );
  const copy = m.husk.snapshot
    ? ' (bin, dist, build/Release copied at the start and timed from the copy)'
    : '';
  lines.push(`- husk: \`${m.husk.bin}\`${copy} — ${m.husk.version}; git ${m.git}`);
  lines.push(`- runc: \`${m.runc.bin}\` — ${m.runc.version}`);
  lines.push(`- node ${m.node}; NODE_EXTRA_CA_CERTS removed from every timed process`);
  const c = m.counts;
  lines.push(
    `- samples per runtime: ${c.warmup} warm-up + ${c.run} (1), ${c.engine} (2), ${c.exec} (3), ${c.state} (4); ${c.batchReps} batch(es) (5); ${c.rssInit} + ${c.rssCli} (6); ${c.libWarmup} + ${c.lib} (7)`,
  );
  lines.push('- cells: median (min–max); ratio = husk median ÷ runc median', '');
  lines.push('| # | Scenario | husk | runc | ratio |', '|---|---|---|---|---|');
  const esc = (s) => String(s).replace(/\|/g, '\\|');
  for (const r of report.rows) {
    const ratio =
      r.ratio === null
        ? '—'
        : `${r.ratio.toFixed(2)}× ${r.ratioLabel === 'husk/runc' ? '' : `(${r.ratioLabel})`}`.trim();
    const hcell = r.node ? `node: ${fmtCell(r.node, r.unit)}` : fmtCell(r.husk, r.unit);
    lines.push(
      `| ${r.id} | ${esc(r.name)} | ${esc(hcell)} | ${esc(r.node ? '—' : fmtCell(r.runc, r.unit))} | ${ratio} |`,
    );
  }
  lines.push('');
  if (report.notes.length) {
    lines.push('Notes:', '');
    for (const n of report.notes) lines.push(`- ${n}`);
    lines.push('');
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

function cleanup() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const rt of RUNTIMES) {
    if (!rt.available || !rt.root || !fs.existsSync(rt.root)) continue;
    // Everything still in the root: what we know is live, and whatever `list` reports.
    const ids = new Set(rt.live);
    const r = spawnSync(rt.bin, ['--root', rt.root, 'list', '--quiet'], {
      env: ENV,
      encoding: 'utf8',
      timeout: 10_000,
    });
    for (const id of (r.stdout ?? '').split('\n')) if (id.trim()) ids.add(id.trim());
    for (const id of ids) {
      spawnSync(rt.bin, ['--root', rt.root, 'delete', '--force', id], {
        env: ENV,
        stdio: 'ignore',
        timeout: 10_000,
      });
    }
    rt.live.clear();
  }
  if (TMP) {
    try {
      fs.rmSync(TMP, { recursive: true, force: true });
    } catch (e) {
      console.error(`bench: could not remove ${TMP}: ${e.message}`);
    }
  }
  TMP = null;
}

async function main() {
  if (process.getuid?.() !== 0) {
    console.error('bench: needs root (it creates containers with husk and runc)');
    return 2;
  }
  if (!husk.available) husk.why = `${HUSK} not found`;
  if (!runc.available) runc.why = 'runc not found (--runc PATH)';
  if (!husk.available && !runc.available) {
    console.error(`bench: neither husk (${HUSK}) nor runc found`);
    return 2;
  }
  let rootfs;
  try {
    const { ensureRootfs } = await import(path.join(REPO, 'scripts', 'ensure-rootfs.mjs'));
    rootfs = ensureRootfs();
  } catch (e) {
    console.error(`bench: no busybox rootfs: ${e.message}`);
    return 2;
  }

  const loadStart = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const started = Date.now();
  const rows = [];
  const notes = [];
  const versions = { husk: 'unknown', runc: 'unknown' };
  cleanupFn = cleanup;
  try {
    TMP = fs.mkdtempSync('/tmp/husk-bench-');
    errFile = path.join(TMP, 'stderr');
    for (const rt of RUNTIMES) {
      rt.root = path.join(TMP, `root-${rt.name}`);
      fs.mkdirSync(rt.root, { recursive: true });
    }
    const snap = husk.available && !opts['in-place'] && !opts.husk ? path.join(TMP, 'husk') : null;
    if (snap) {
      try {
        husk.bin = snapshotHusk(snap);
      } catch (e) {
        notes.push(`husk timed in place: no snapshot (${oneLine(e.message)})`);
      }
    }
    const B = { true: path.join(TMP, 'bundle-true'), sleep: path.join(TMP, 'bundle-sleep') };
    let how;
    try {
      how = makeBundle(B.true, ['/bin/true'], rootfs);
      makeBundle(B.sleep, ['sleep', '1000'], rootfs);
    } catch (e) {
      console.error(`bench: ${e.message}`);
      return 2;
    }
    if (how !== 'husk spec') notes.push(`config.json from ${how}`);

    // One container each first: a runtime that cannot run at all is reported, not fatal.
    // A snapshot taken in the middle of a rebuild may mix old and new parts: take it again.
    for (const rt of RUNTIMES.filter((r) => r.available)) {
      for (let attempt = 1; ; attempt++) {
        const id = nextId('check');
        rt.live.add(id);
        const r = call(rt, ['run', '--bundle', B.true, id]);
        if (r.ok) {
          rt.live.delete(id);
          break;
        }
        forceDelete(rt, id);
        console.error(`bench: pre-check failed: ${r.err}`);
        if (rt === husk && husk.bin !== HUSK && attempt < 3) {
          await checkpoint();
          sleepMs(5000);
          try {
            husk.bin = snapshotHusk(snap);
            continue;
          } catch {
            /* keep the first snapshot */
          }
        }
        notes.push(`pre-check: ${r.err}`);
        break;
      }
    }

    versions.husk = husk.available ? version(husk.bin, ['--version']) : 'not found';
    versions.runc = runc.available ? version(RUNC, ['--version']) : 'not found';

    const section = async (n, label, fn) => {
      if (!want(n)) return;
      const t = Date.now();
      process.stderr.write(`bench: ${label} ... `);
      try {
        const got = await fn();
        rows.push(...got);
        process.stderr.write(`${((Date.now() - t) / 1000).toFixed(1)} s\n`);
      } catch (e) {
        if (e instanceof Interrupted) throw e;
        process.stderr.write(`error\n`);
        rows.push({
          id: String(n),
          name: label,
          unit: 'ms',
          husk: { stats: null, error: oneLine(e.message) },
          runc: { stats: null, error: oneLine(e.message) },
          ratio: null,
          ratioLabel: 'husk/runc',
        });
        notes.push(`scenario ${n} failed: ${oneLine(e.stack)}`);
      }
    };

    await section(1, 'run /bin/true', () => scenarioRun(B));
    await section(2, 'engine path', () => scenarioEngine(B));
    let sleepers = null;
    try {
      if (want(3) || want(4) || want(6)) sleepers = startSleepers(B);
      await section(3, 'exec', () => scenarioExec(sleepers));
      await section(4, 'state', () => scenarioState(sleepers));
      await section(6, 'RSS of one state call', () => scenarioRssCli(sleepers));
    } finally {
      stopSleepers(sleepers);
    }
    await section(5, `${BATCH_N} runs, ${BATCH_PAR} at a time`, () => scenarioBatch(B));
    await section(6, 'RSS of a created init', () => scenarioRssInit(B));
    await section(7, 'library API', () => scenarioLib(B));
  } catch (e) {
    if (e instanceof Interrupted) {
      console.error('bench: interrupted; cleaning up, no results written');
      return 130;
    }
    throw e;
  } finally {
    cleanup();
    cleanupFn = null;
  }

  const order = ['1', '2', '3', '4a', '4b', '5a', '5b', '6a', '6b', '7'];
  rows.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
  notes.push(...leakNotes);
  for (const r of rows) {
    for (const k of ['husk', 'runc'])
      if (r[k]?.failures) notes.push(`${r.id} ${k}: ${r[k].failures} failed sample(s): ${r[k].error}`);
  }
  const cpus = os.cpus();
  const report = {
    meta: {
      date: new Date(started).toISOString(),
      durationSeconds: Math.round((Date.now() - started) / 100) / 10,
      mode: modeName,
      counts: M,
      husk: {
        bin: HUSK,
        snapshot: husk.bin !== HUSK,
        version: versions.husk,
      },
      runc: { bin: RUNC, version: versions.runc },
      git: gitInfo(),
      node: process.version,
      nodeExtraCaCertsWasSet: 'NODE_EXTRA_CA_CERTS' in process.env,
      host: { kernel: os.release(), cpus: cpus.length, cpuModel: cpus[0]?.model?.trim() ?? '?' },
      loadStart,
      loadEnd: os.loadavg().map((x) => Math.round(x * 100) / 100),
    },
    rows,
    notes,
  };
  let md;
  try {
    md = markdown(report);
  } catch (e) {
    md = `# husk vs runc\n\nbench: could not format the table (${e.message}); see the JSON.\n`;
  }
  const base = modeName === 'quick' ? 'quick' : 'latest';
  try {
    fs.mkdirSync(OUT_DIR, { recursive: true });
    fs.writeFileSync(path.join(OUT_DIR, `${base}.json`), JSON.stringify(report, null, 2) + '\n');
    fs.writeFileSync(path.join(OUT_DIR, `${base}.md`), md);
    // Keep the tracked results in the repo's prettier style (aligned table), if prettier is there.
    const prettier = path.join(REPO, 'node_modules', '.bin', 'prettier');
    if (fs.existsSync(prettier)) {
      const files = [`${base}.md`, `${base}.json`].map((f) => path.join(OUT_DIR, f));
      const r = spawnSync(prettier, ['--write', '--log-level', 'warn', ...files], {
        cwd: REPO,
        env: ENV,
        stdio: 'ignore',
      });
      if (r.status === 0) md = fs.readFileSync(files[0], 'utf8');
    }
  } catch (e) {
    console.error(`bench: could not write results: ${e.message}`);
  }
  console.log(md);
  console.error(`bench: ${report.meta.durationSeconds} s; wrote ${path.join(OUT_DIR, base)}.{md,json}`);
  return 0;
}

let code;
try {
  code = await main();
} catch (e) {
  console.error(`bench: ${e.stack ?? e}`);
  code = 1;
}
process.exit(interrupted && code === 0 ? 130 : code);
