#!/usr/bin/env node
// husk vs runc, side by side, in one run: `node bench/run.mjs [--quick]` (root only).
//
// husk is timed in two modes: "husk" (bin/husk with HUSK_SERVER_DIR pointing at a directory with
// no server, so the front always runs the Node CLI, bin/husk.js) and "husk+server" (the same
// bin/husk with HUSK_SERVER_DIR pointing at a `husk server` the bench starts for the run, so the
// front hands each call to it). Each has its own --root.
//
// Own harness rather than hyperfine: the runs of a scenario are interleaved (the order rotates
// each round) so that background load on a shared machine hits all runtimes alike, multi-call
// sequences (create/start/state/delete) are timed as one sample, and every failure is recorded
// in the row instead of aborting. Each sample is one spawnSync() timed with process.hrtime;
// every timed process runs with NODE_EXTRA_CA_CERTS removed from its environment (Node would
// otherwise read and parse a CA bundle at every start-up).
//
// Writes bench/results/latest.{md,json} (quick mode: bench/results/quick.{md,json}) and prints
// the table. See bench/README.md for what each row means.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setUpEngines } from './engines.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..');

const USAGE = `usage: node bench/run.mjs [options]
  --quick          few runs, for a CI smoke test (about a minute)
  --runs N         samples per scenario for scenarios 1-4 and 9 (overrides the mode)
  --only LIST      run only these scenarios, e.g. --only 1,4,7
  --husk PATH      husk front executable (default: bin/husk of this repo; husk+server runs the
                   server from the bin/husk.js that front falls back to)
  --runc PATH      runc executable (default: /usr/sbin/runc, else runc on PATH)
  --out DIR        where to write the results (default: bench/results)
  --in-place       time husk where it is built, not a copy taken at the start
  -h, --help       this text`;

const MODES = {
  quick: {
    warmup: 1,
    run: 5,
    engine: 5,
    engineLevel: 3,
    exec: 5,
    state: 10,
    batchReps: 1,
    rssInit: 3,
    rssCli: 5,
    lib: 20,
    libWarmup: 2,
    libBackToBack: 10,
    pod: 3,
  },
  default: {
    warmup: 3,
    run: 30,
    engine: 20,
    engineLevel: 10,
    exec: 30,
    state: 50,
    batchReps: 3,
    rssInit: 5,
    rssCli: 10,
    lib: 200,
    libWarmup: 50,
    libBackToBack: 100,
    pod: 10,
  },
};
const BATCH_N = 50;
const BATCH_PAR = 8;
const CALL_TIMEOUT_MS = 30_000;
const SERVER_START_MS = 30_000; // until `husk server` prints its "listening" line
const SERVER_STOP_MS = 5_000; // from SIGTERM until SIGKILL

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
  M.run = M.engine = M.exec = M.state = M.engineLevel = n;
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

// key: in the JSON rows; name: in messages and the ratio labels; label: the table's column.
// env: the environment of every process of this runtime (main() points the two husks'
// HUSK_SERVER_DIR at the bench's server, or at a directory with none).
function makeRuntime(key, name, label, bin) {
  return {
    key,
    name,
    label,
    bin,
    env: ENV,
    root: null,
    live: new Set(),
    available: !!bin && fs.existsSync(bin),
    why: null,
  };
}
const husk = makeRuntime('husk', 'husk', 'husk (CLI)', HUSK);
const huskServer = makeRuntime('huskServer', 'husk+server', 'husk+server', HUSK);
const runc = makeRuntime('runc', 'runc', 'runc', RUNC);
const RUNTIMES = [husk, huskServer, runc];
const RATIOS = [
  [husk, runc],
  [huskServer, runc],
];

// One measurement per runtime, keyed as in the JSON rows.
function perRuntime(make) {
  return Object.fromEntries(RUNTIMES.map((rt) => [rt.key, make()]));
}

// One synchronous call of a runtime verb, timed. stdout is a pipe only when asked for (a pipe
// given to `create` would be inherited by the container and held open); stderr goes to a file
// for the same reason.
function call(rt, args, { capture = false, timeout = CALL_TIMEOUT_MS } = {}) {
  const fd = fs.openSync(errFile, 'w');
  const t0 = process.hrtime.bigint();
  const r = spawnSync(rt.bin, ['--root', rt.root, ...args], {
    env: rt.env,
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

// The order of round i: the list rotated by i, and reversed every other full turn, so that each
// runtime goes first equally often and none always runs right after the same other one (with
// three runtimes, six rounds go through every order).
function order(i, list) {
  const k = i % list.length;
  const rotated = [...list.slice(k), ...list.slice(0, k)];
  return Math.floor(i / list.length) % 2 ? rotated.reverse() : rotated;
}

// ---------------------------------------------------------------------------------------------
// A copy of the husk build, taken at the start: other work may rebuild dist/ and build/Release
// while the bench runs, and a run must not time (or fail on) a half-written build.
//
// bin/husk is a symlink to ../build/Release/husk (the front), which finds the Node CLI as
// <its own real path>/../../bin/husk.js: the copy gets the same relative symlink, so the
// copied front runs the copied bin/husk.js (and the server the bench starts runs from it too).

const SNAPSHOT_FILES = [
  'bin/husk',
  'bin/husk.js',
  'dist/husk.js',
  'dist/lib.js',
  'dist/generated/validators.js',
  'build/Release/husk',
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
    const from = path.join(src, f);
    const to = path.join(dest, f);
    if (fs.lstatSync(from).isSymbolicLink()) {
      // The same link inside the copy (its target is one of the files copied here).
      const target = path.relative(src, fs.realpathSync(from));
      if (target.startsWith('..') || path.isAbsolute(target) || !SNAPSHOT_FILES.includes(target))
        throw new Error(`${from} links to ${fs.realpathSync(from)}, not to a file of the build`);
      fs.symlinkSync(path.relative(path.dirname(to), path.join(dest, target)), to);
      continue;
    }
    fs.copyFileSync(from, to);
    fs.chmodSync(to, fs.statSync(from).mode & 0o7777);
  }
  if (fs.existsSync(path.join(src, 'node_modules')))
    fs.symlinkSync(path.join(src, 'node_modules'), path.join(dest, 'node_modules'));
  return path.join(dest, 'bin', 'husk');
}

// ---------------------------------------------------------------------------------------------
// The husk server of the husk+server runtime: `node bin/husk.js server --dir DIR`, started from
// the build being timed, in a fresh directory, before the scenarios, and stopped at the end.

let server = null; // { child, pid, dir, script, logFile, probeLog, rss: {} }

// The Node CLI a husk front runs (and so the one its server must run): by the front's own rule
// <real path of the front>/../../bin/husk.js, else a husk.js beside it.
function huskJsOf(bin) {
  const candidates = [];
  try {
    candidates.push(path.resolve(path.dirname(fs.realpathSync(bin)), '..', '..', 'bin', 'husk.js'));
  } catch {
    /* no such file */
  }
  candidates.push(path.join(path.dirname(bin), 'husk.js'));
  return candidates.find((f) => fs.existsSync(f)) ?? null;
}

// Starts the server and resolves once it prints "listening on DIR/socket"; rejects (with the
// tail of its stderr) if it exits first or says nothing within SERVER_START_MS.
async function startServer() {
  const script = huskJsOf(husk.bin);
  if (!script) throw new Error(`no bin/husk.js for ${husk.bin} (a front without its Node CLI)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-bench-server-'));
  const logFile = path.join(TMP, 'server.log');
  const nodeBin = which('node') ?? process.execPath;
  const logFd = fs.openSync(logFile, 'w');
  let child;
  try {
    child = spawn(nodeBin, [script, 'server', '--dir', dir], {
      env: ENV,
      cwd: '/',
      stdio: ['ignore', 'pipe', logFd],
    });
  } finally {
    fs.closeSync(logFd);
  }
  // A front that falls back runs Node, which --require's this file first: it logs the call, so
  // a husk+server call the server did not take is seen (and does nothing else).
  const probe = path.join(TMP, 'fallback-probe.cjs');
  const probeLog = path.join(TMP, 'fallbacks.log');
  fs.writeFileSync(
    probe,
    `require('fs').appendFileSync(${JSON.stringify(probeLog)}, process.argv.slice(2).join(' ') + '\\n');\n`,
  );
  server = { child, pid: child.pid, dir, script, logFile, probeLog, rss: {} };
  const want = `husk server: listening on ${path.join(dir, 'socket')}`;
  await new Promise((resolve, reject) => {
    let out = '';
    let settled = false;
    const done = (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearInterval(poll);
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(
      () => done(new Error(`no "listening" line within ${SERVER_START_MS / 1000} s${serverLogTail()}`)),
      SERVER_START_MS,
    );
    const poll = setInterval(() => interrupted && done(new Interrupted('interrupted')), 50);
    child.stdout.on('data', (d) => {
      if (settled) return; // later output is drained and dropped
      out += d;
      if (out.split('\n').some((l) => l.trim() === want)) done();
    });
    child.on('error', (e) => done(new Error(`cannot start ${nodeBin}: ${e.message}`)));
    child.on('exit', (code, sig) =>
      done(
        new Error(`exited (${sig ? `killed by ${sig}` : `exit ${code}`}) before listening${serverLogTail()}`),
      ),
    );
  });
  const opts = ENV.NODE_OPTIONS ? `${ENV.NODE_OPTIONS} ` : '';
  huskServer.env = { ...ENV, HUSK_SERVER_DIR: dir, NODE_OPTIONS: `${opts}--require=${probe}` };
  server.rss.afterStart = serverRss();
}

function serverLogTail() {
  try {
    const lines = fs.readFileSync(server.logFile, 'utf8').split('\n').filter(Boolean);
    return lines.length ? `: ${oneLine(lines.slice(-3).join(' / '))}` : '';
  } catch {
    return '';
  }
}

// The husk+server calls that ran the Node CLI instead (one line each: their arguments).
function serverFallbacks() {
  try {
    return fs.readFileSync(server.probeLog, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

function serverRss() {
  try {
    const st = procStatus(server.pid);
    return { rssKiB: st.rss, hwmKiB: st.hwm, pssKiB: Number.isFinite(st.pss) ? st.pss : null };
  } catch {
    return null;
  }
}

// SIGTERM (the server removes its socket and exits), wait for the exit, SIGKILL if it takes
// longer than SERVER_STOP_MS, then remove its directory. Synchronous: also runs from the second
// signal's forced clean-up. Until Node reaps it the exited server is a zombie, so its pid is not
// reused while we look.
function stopServer() {
  const s = server;
  server = null;
  if (!s) return;
  const gone = () => {
    if (!s.pid || s.child.exitCode !== null || s.child.signalCode !== null) return true;
    try {
      const stat = fs.readFileSync(`/proc/${s.pid}/stat`, 'utf8');
      return /^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
    } catch {
      return true;
    }
  };
  const waitGone = (ms) => {
    for (let t = 0; t < ms && !gone(); t += 20) sleepMs(20);
    return gone();
  };
  if (!gone()) {
    try {
      process.kill(s.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    if (!waitGone(SERVER_STOP_MS)) {
      console.error(`bench: the husk server (pid ${s.pid}) did not exit on SIGTERM; killing it`);
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      if (!waitGone(SERVER_STOP_MS)) console.error(`bench: the husk server (pid ${s.pid}) is still there`);
    }
  }
  try {
    fs.rmSync(s.dir, { recursive: true, force: true });
  } catch (e) {
    console.error(`bench: could not remove ${s.dir}: ${e.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Bundles

function makeBundle(dir, args, rootfs) {
  fs.mkdirSync(dir, { recursive: true });
  let how = 'husk spec';
  let r = spawnSync(husk.bin, ['spec', '--bundle', dir], { env: husk.env, encoding: 'utf8' });
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
// Scenarios. Each returns rows (see row()), with one measurement per runtime.

// 1. `run` of /bin/true.
async function scenarioRun(B) {
  const res = perRuntime(measure);
  const rts = RUNTIMES.filter((r) => r.available);
  for (let i = 0; i < M.warmup + M.run; i++) {
    for (const rt of order(i, rts)) {
      const id = nextId('run');
      rt.live.add(id);
      const r = call(rt, ['run', '--bundle', B.true, id]);
      if (r.ok) {
        rt.live.delete(id);
        if (i >= M.warmup) res[rt.key].samples.push(r.ms);
      } else {
        fail(res[rt.key], r.err);
        forceDelete(rt, id);
      }
    }
    await checkpoint();
  }
  return [row('1', '`run` /bin/true (create+start+wait+delete, one call)', 'ms', res)];
}

// 2. The engine path: create, start, state until stopped, delete.
async function scenarioEngine(B) {
  const res = perRuntime(measure);
  const polls = perRuntime(() => []);
  const steps = perRuntime(() => ({})); // per-verb times, for the JSON
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
        fail(res[rt.key], err);
        forceDelete(rt, id);
      } else {
        rt.live.delete(id);
        if (i >= M.warmup) {
          res[rt.key].samples.push(ms);
          polls[rt.key].push(n);
          for (const [verb, t] of Object.entries(mine)) (steps[rt.key][verb] ??= []).push(t);
        }
      }
    }
    await checkpoint();
  }
  for (const k of Object.keys(res)) {
    if (polls[k].length) res[k].extra.statePollsMean = polls[k].reduce((a, b) => a + b, 0) / polls[k].length;
    const med = Object.entries(steps[k]).map(([verb, v]) => [verb, stats(v).median]);
    if (med.length) res[k].extra.medianMsPerVerb = Object.fromEntries(med);
  }
  return [
    row('2', 'engine path: `create`, `start`, `state` until stopped, `delete` (sum of the calls)', 'ms', res),
  ];
}

// Long-running `sleep 1000` containers, one per runtime, for scenarios 3, 4 and 6b (keyed as the rows).
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
    sleepers[rt.key] = r.ok ? { id } : { error: r.err };
    if (!r.ok) forceDelete(rt, id);
  }
  return sleepers;
}

function stopSleepers(sleepers) {
  for (const rt of RUNTIMES) {
    const s = sleepers?.[rt.key];
    if (s?.id) {
      call(rt, ['kill', s.id, 'KILL'], { timeout: 10_000 });
      forceDelete(rt, s.id);
    }
  }
}

// 3. exec of /bin/true into a running container.
async function scenarioExec(sleepers) {
  const res = perRuntime(measure);
  const rts = RUNTIMES.filter((r) => r.available && sleepers[r.key]?.id);
  for (const rt of RUNTIMES) if (sleepers[rt.key]?.error) res[rt.key].error = sleepers[rt.key].error;
  for (let i = 0; i < M.warmup + M.exec; i++) {
    for (const rt of order(i, rts)) {
      const r = call(rt, ['exec', sleepers[rt.key].id, '/bin/true']);
      if (r.ok) {
        if (i >= M.warmup) res[rt.key].samples.push(r.ms);
      } else fail(res[rt.key], r.err);
    }
    await checkpoint();
  }
  return [row('3', '`exec` /bin/true into a running container', 'ms', res)];
}

// 4. state of an existing container, and `node -e 0` as the floor of any Node CLI.
async function scenarioState(sleepers) {
  const res = perRuntime(measure);
  const node = measure();
  const rts = RUNTIMES.filter((r) => r.available && sleepers[r.key]?.id);
  for (const rt of RUNTIMES) if (sleepers[rt.key]?.error) res[rt.key].error = sleepers[rt.key].error;
  const nodeBin = which('node') ?? process.execPath;
  const jobs = [...rts, 'node'];
  for (let i = 0; i < M.warmup + M.state; i++) {
    for (const job of order(i, jobs)) {
      if (job === 'node') {
        const t0 = process.hrtime.bigint();
        const r = spawnSync(nodeBin, ['-e', '0'], { env: ENV, stdio: 'ignore', timeout: CALL_TIMEOUT_MS });
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (r.status === 0) {
          if (i >= M.warmup) node.samples.push(ms);
        } else fail(node, `node -e 0: ${r.error?.message ?? `exit ${r.status}`}`);
        continue;
      }
      const r = call(job, ['state', sleepers[job.key].id], { capture: true });
      if (r.ok) {
        if (i >= M.warmup) res[job.key].samples.push(r.ms);
      } else fail(res[job.key], r.err);
    }
    await checkpoint();
  }
  const main = row('4a', '`state` of a running container (fixed cost of one CLI call)', 'ms', res);
  const n = finish(node);
  const base = {
    id: '4b',
    name: `\`node -e 0\` baseline (${nodeBin} ${process.version}); ratios = \`state\` ÷ node`,
    unit: 'ms',
    ...perRuntime(() => null),
    node: n,
    ratios: Object.fromEntries(RUNTIMES.map((rt) => [`${rt.name}/node`, ratioOf(main[rt.key], n)])),
  };
  return [main, base];
}

// 5. 50 `run`s of /bin/true, 8 at a time.
function spawnAsync(rt, args) {
  return new Promise((resolve) => {
    let stderr = '';
    let child;
    try {
      child = spawn(rt.bin, ['--root', rt.root, ...args], {
        env: rt.env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
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
  const wall = perRuntime(measure);
  const rate = perRuntime(measure);
  const rts = RUNTIMES.filter((r) => r.available);
  for (let i = 0; i < M.batchReps; i++) {
    for (const rt of order(i, rts)) {
      const r = await batch(rt, B.true);
      await checkpoint();
      if (r.errors.length) {
        fail(wall[rt.key], `${r.errors.length}/${BATCH_N} runs failed, first: ${r.errors[0]}`);
        fail(rate[rt.key], `${r.errors.length}/${BATCH_N} runs failed`);
      } else {
        wall[rt.key].samples.push(r.ms);
        rate[rt.key].samples.push((BATCH_N * 1000) / r.ms);
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
  const res = perRuntime(measure);
  const pss = perRuntime(() => []);
  const rts = RUNTIMES.filter((r) => r.available);
  for (let i = 0; i < M.rssInit; i++) {
    for (const rt of order(i, rts)) {
      const id = nextId('rss');
      rt.live.add(id);
      const r = call(rt, ['create', '--bundle', B.true, id]);
      if (!r.ok) {
        fail(res[rt.key], r.err);
        forceDelete(rt, id);
        continue;
      }
      const s = stateOf(rt, id);
      try {
        if (!s.ok) throw new Error(s.err);
        if (s.state.status !== 'created') throw new Error(`status is "${s.state.status}", not created`);
        const st = procStatus(s.state.pid);
        res[rt.key].samples.push(st.rss);
        if (Number.isFinite(st.pss)) pss[rt.key].push(st.pss);
        res[rt.key].extra.processName = st.name;
        res[rt.key].extra.vmHWMKiB = Math.max(res[rt.key].extra.vmHWMKiB ?? 0, st.hwm);
      } catch (e) {
        fail(res[rt.key], `${rt.name}: init of a created container: ${e.message}`);
      }
      forceDelete(rt, id);
    }
    await checkpoint();
  }
  for (const k of Object.keys(pss)) if (pss[k].length) res[k].extra.pssKiB = stats(pss[k]);
  return [row('6a', 'RSS (VmRSS) of the container init waiting in `created`', 'KiB', res)];
}

async function scenarioRssCli(sleepers) {
  const res = perRuntime(measure);
  for (const rt of RUNTIMES) if (sleepers[rt.key]?.error) res[rt.key].error = sleepers[rt.key].error;
  const rts = RUNTIMES.filter((r) => r.available && sleepers[r.key]?.id);
  if (!TIME) {
    for (const rt of rts) res[rt.key].error = 'no /usr/bin/time (apt-get install time)';
  } else {
    for (let i = 0; i < M.rssCli; i++) {
      for (const rt of order(i, rts)) {
        const r = spawnSync(TIME, ['-f', '%M', rt.bin, '--root', rt.root, 'state', sleepers[rt.key].id], {
          env: rt.env,
          stdio: ['ignore', 'ignore', 'pipe'],
          encoding: 'utf8',
          timeout: CALL_TIMEOUT_MS,
        });
        const last = (r.stderr ?? '').trim().split('\n').pop();
        if (r.status === 0 && /^\d+$/.test(last)) res[rt.key].samples.push(Number(last));
        else
          fail(
            res[rt.key],
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
  const res = { husk: measure(), runc: measure() }; // no husk+server: the library is in-process
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
    backToBack: M.libBackToBack,
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
    const timer = setTimeout(
      () => child.kill('SIGKILL'),
      60_000 + (M.lib + M.libWarmup + M.libBackToBack) * 2_000,
    );
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
  const warm = out.warmupLib?.length ? stats(out.warmupLib) : null;
  if (warm) {
    res.husk.extra.warmup = out.warmupLib;
    leakNotes.push(
      `7: the library's first ${out.warmupLib.length} containers in the process (the warm-up, not in the table: V8 optimizes its code meanwhile) take ${fmtNum(warm.median)} ms (median; ${fmtNum(warm.min)}–${fmtNum(warm.max)})`,
    );
  }
  const b2b = out.backToBack?.length ? stats(out.backToBack) : null;
  if (b2b) {
    res.husk.extra.backToBack = out.backToBack;
    leakNotes.push(
      `7: one by one, a \`runc run\` between every two library runs (the table); ${out.backToBack.length} library runs back to back after that take ${fmtNum(b2b.median)} ms (median; ${fmtNum(b2b.min)}–${fmtNum(b2b.max)}): each then starts while the kernel still tears down the container before it (its network namespace above all)`,
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

// 8. A pod through containerd's CRI plugin (test/cri/lib.mjs starts a private containerd with one
// runtime handler per column, each a logging wrapper around the runtime with that column's
// environment): RunPodSandbox, CreateContainer and StartContainer, then ContainerStatus until
// Running, timed as one sample from the client's side, the way kubelet waits for a pod. The
// pod is stopped and removed after each sample, untimed.
async function scenarioPod() {
  const { startCri, whyNot, removeCgroupTree } = await import('../test/cri/lib.mjs');
  const { runPod, startContainer } = await import('../test/cri/pods.mjs');
  const why = whyNot();
  if (why) throw new Error(why);
  // containerd, its shims and so the runtimes inherit this process's environment.
  delete process.env.NODE_EXTRA_CA_CERTS;
  const handlerOf = { husk: 'husk', huskServer: 'husk-server', runc: 'runc' };
  const rts = RUNTIMES.filter((r) => r.available);
  const handlers = {};
  for (const rt of rts) {
    const env = {};
    for (const k of ['HUSK_SERVER_DIR', 'NODE_OPTIONS']) if (rt !== runc && rt.env[k]) env[k] = rt.env[k];
    handlers[handlerOf[rt.key]] = { real: rt.bin, env };
  }
  const ctx = await startCri({ handlers, prefix: 'husk-bench-cri-' });
  const res = perRuntime(measure);
  try {
    for (let i = 0; i < M.warmup + M.pod; i++) {
      for (const rt of order(i, rts)) {
        let pod = null;
        try {
          const t0 = process.hrtime.bigint();
          pod = await runPod(ctx, handlerOf[rt.key], { name: `bench-${i}` });
          const c = await startContainer(ctx, pod, 'app', ['sleep', '1000']);
          for (;;) {
            const { status } = await ctx.cri.ContainerStatus({ container_id: c.id });
            if (status.state === 'CONTAINER_RUNNING') break;
            if (status.state !== 'CONTAINER_CREATED') throw new Error(`container ${status.state}`);
          }
          const ms = Number(process.hrtime.bigint() - t0) / 1e6;
          if (i >= M.warmup) res[rt.key].samples.push(ms);
        } catch (e) {
          fail(res[rt.key], `${rt.name}: ${e.message}`);
        } finally {
          if (pod) {
            await ctx.cri.StopPodSandbox({ pod_sandbox_id: pod.id }).catch(() => {});
            await ctx.cri
              .RemovePodSandbox({ pod_sandbox_id: pod.id })
              .catch((e) => fail(res[rt.key], e.message));
            removeCgroupTree(pod.cgroup); // kubelet's part: the pod-level cgroup
          }
        }
        await checkpoint();
      }
    }
  } finally {
    await ctx.stop();
  }
  return [
    row(
      '8',
      'pod start through containerd CRI: `RunPodSandbox` + `CreateContainer` + `StartContainer` until Running',
      'ms',
      res,
    ),
  ];
}

// 9. What an engine's user waits for: `podman run --rm`, `docker run --rm` and `ctr run --rm`
// of /bin/true, the runtimes alternated run by run under the same engine (bench/engines.mjs
// sets the engines up privately and calls each runtime through an `exec` wrapper).
let engineSet = null;
async function scenarioEngines(rootfs) {
  const rts = RUNTIMES.filter((r) => r.available);
  engineSet = setUpEngines(path.join(TMP, 'engines'), rts, rootfs);
  const rows = [];
  try {
    for (const [id, name, what] of [
      ['9a', 'podman', '`podman run --rm --network none`'],
      ['9b', 'docker', '`docker run --rm --network none`'],
      ['9c', 'ctr', '`ctr run --rm`'],
    ]) {
      const eng = engineSet.engines[name];
      const res = perRuntime(measure);
      if (!eng.cmd) for (const k of Object.keys(res)) res[k].error = `not timed: ${eng.why}`;
      for (let i = 0; eng.cmd && i < M.warmup + M.engineLevel; i++) {
        for (const rt of order(i, rts)) {
          const [bin, args] = eng.cmd(rt, nextId(name));
          const fd = fs.openSync(errFile, 'w');
          const t0 = process.hrtime.bigint();
          const r = spawnSync(bin, args, {
            env: ENV,
            stdio: ['ignore', 'ignore', fd],
            timeout: 60_000,
            killSignal: 'SIGKILL',
          });
          const ms = Number(process.hrtime.bigint() - t0) / 1e6;
          fs.closeSync(fd);
          if (!r.error && r.status === 0) {
            if (i >= M.warmup) res[rt.key].samples.push(ms);
          } else {
            const text = fs.readFileSync(errFile, 'utf8').trim().split('\n').filter(Boolean).pop() ?? '';
            fail(res[rt.key], `${name} ${rt.name}: ${text} (${r.error?.message ?? `exit ${r.status}`})`);
          }
        }
        await checkpoint();
      }
      rows.push(
        row(
          id,
          `${what} /bin/true (engine to exit, ${rts.map((r) => r.name).join(', ')} alternated)`,
          'ms',
          res,
        ),
      );
    }
  } finally {
    engineSet.stop();
    engineSet = null;
  }
  return rows;
}

// A row: { id, name, unit, husk, huskServer, runc, ratios: { 'husk/runc', 'husk+server/runc' } },
// a runtime the scenario does not time (husk+server in 7) being null.
function row(id, name, unit, res) {
  const out = { id, name, unit };
  for (const rt of RUNTIMES) {
    if (!res[rt.key]) {
      out[rt.key] = null;
      continue;
    }
    const m = finish(res[rt.key]);
    if (!rt.available && !m.stats) m.error = rt.why;
    out[rt.key] = m;
  }
  out.ratios = Object.fromEntries(
    RATIOS.map(([a, b]) => [`${a.name}/${b.name}`, ratioOf(out[a.key], out[b.key])]),
  );
  return out;
}

// ---------------------------------------------------------------------------------------------
// Report

function version(rt, args) {
  const r = spawnSync(rt.bin, args, { env: rt.env, encoding: 'utf8', timeout: 10_000 });
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
  const hs = m.huskServer;
  lines.push(
    hs.available
      ? `- husk+server: the same \`bin/husk\` (the front) with \`HUSK_SERVER_DIR\` at a \`husk server\` started from its build for the run (\`node bin/husk.js server --dir DIR\`, DIR a fresh temp directory; the JSON has the full command), so the front hands each call to the server; the husk (CLI) calls get a \`HUSK_SERVER_DIR\` with no server in it, so they always run the Node CLI (\`bin/husk.js\`)`
      : `- husk+server: not timed (${hs.why ?? 'not needed by the scenarios run'}); the husk (CLI) calls get a \`HUSK_SERVER_DIR\` with no server in it, so they always run the Node CLI (\`bin/husk.js\`)`,
  );
  lines.push(`- runc: \`${m.runc.bin}\` — ${m.runc.version}`);
  lines.push(`- node ${m.node}; NODE_EXTRA_CA_CERTS removed from every timed process`);
  const c = m.counts;
  lines.push(
    `- samples per runtime: ${c.warmup} warm-up + ${c.run} (1), ${c.engine} (2), ${c.exec} (3), ${c.state} (4); ${c.batchReps} batch(es) (5); ${c.rssInit} + ${c.rssCli} (6); ${c.libWarmup} + ${c.lib} one by one, then ${c.libBackToBack} back to back (7); ${c.warmup} + ${c.pod} pods (8); ${c.engineLevel} per engine (9)`,
  );
  lines.push(
    `- cells: median (min–max); ${RATIOS.map(([a, b]) => `${a.name}/${b.name} = ${a.label} median ÷ ${b.label} median`).join(', ')}`,
    '',
  );
  const header = [
    '#',
    'Scenario',
    ...RUNTIMES.map((rt) => rt.label),
    ...RATIOS.map(([a, b]) => `${a.name}/${b.name}`),
  ];
  lines.push(`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`);
  const esc = (s) => String(s).replace(/\|/g, '\\|');
  for (const r of report.rows) {
    // 4b has node's time in the first runtime column and the ratios to node.
    const cells = r.node
      ? [`node: ${fmtCell(r.node, r.unit)}`, ...RUNTIMES.slice(1).map(() => '—')]
      : RUNTIMES.map((rt) => fmtCell(r[rt.key], r.unit));
    for (const [a, b] of RATIOS) {
      const key = r.node ? `${a.name}/node` : `${a.name}/${b.name}`;
      const v = r.ratios?.[key];
      cells.push(v === null || v === undefined ? '—' : `${v.toFixed(2)}×${r.node ? ` (${key})` : ''}`);
    }
    lines.push(`| ${r.id} | ${esc(r.name)} | ${cells.map(esc).join(' | ')} |`);
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
  try {
    engineSet?.stop();
  } catch (e) {
    console.error(`bench: stopping the engines: ${e.message}`);
  }
  engineSet = null;
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  // Containers first (husk+server's through the server while it still runs; if it is gone,
  // its front runs the Node CLI), then the server, then the directories.
  for (const rt of RUNTIMES) {
    // Also a runtime found unusable half-way (husk+server whose server stopped serving).
    if (!rt.bin || !fs.existsSync(rt.bin) || !rt.root || !fs.existsSync(rt.root)) continue;
    // Everything still in the root: what we know is live, and whatever `list` reports.
    const ids = new Set(rt.live);
    const r = spawnSync(rt.bin, ['--root', rt.root, 'list', '--quiet'], {
      env: rt.env,
      encoding: 'utf8',
      timeout: 10_000,
    });
    for (const id of (r.stdout ?? '').split('\n')) if (id.trim()) ids.add(id.trim());
    for (const id of ids) {
      spawnSync(rt.bin, ['--root', rt.root, 'delete', '--force', id], {
        env: rt.env,
        stdio: 'ignore',
        timeout: 10_000,
      });
    }
    rt.live.clear();
  }
  stopServer();
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
  if (!husk.available) husk.why = huskServer.why = `${HUSK} not found`;
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
  const serverInfo = { command: null, dir: null, process: null, fallbacks: [], log: [] };
  cleanupFn = cleanup;
  try {
    TMP = fs.mkdtempSync('/tmp/husk-bench-');
    errFile = path.join(TMP, 'stderr');
    for (const rt of RUNTIMES) {
      rt.root = path.join(TMP, `root-${rt.key}`);
      fs.mkdirSync(rt.root, { recursive: true });
    }
    // The husk (CLI) runtime always runs the Node CLI, even if a husk server runs on this host:
    // its front looks for the server in a directory that does not exist. husk+server gets the
    // bench's own server once it listens (until then, the same).
    husk.env = huskServer.env = { ...ENV, HUSK_SERVER_DIR: path.join(TMP, 'no-server') };
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
    for (const rt of RUNTIMES.filter((r) => r.available && r !== huskServer)) {
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

    // husk+server: a server started from the build just checked (the snapshot's bin/husk.js),
    // then one container through it, which must not have fallen back to the Node CLI.
    huskServer.bin = husk.bin;
    if (husk.available && ![1, 2, 3, 4, 5, 6, 8, 9].some(want)) {
      huskServer.available = false;
      huskServer.why = 'not needed by the scenarios run';
    } else if (husk.available) {
      process.stderr.write('bench: starting the husk server ... ');
      try {
        await startServer();
        process.stderr.write(`listening in ${server.dir}\n`);
        serverInfo.command = `node ${server.script} server --dir ${server.dir}`;
        serverInfo.dir = server.dir;
        const id = nextId('check');
        huskServer.live.add(id);
        const r = call(huskServer, ['run', '--bundle', B.true, id]);
        if (r.ok) huskServer.live.delete(id);
        else forceDelete(huskServer, id);
        const fell = serverFallbacks();
        if (fell.length)
          throw new Error(`the server did not take a \`run\` (the front ran the Node CLI)${serverLogTail()}`);
        if (!r.ok) {
          console.error(`bench: pre-check failed: ${r.err}`);
          notes.push(`pre-check: ${r.err}`);
        }
      } catch (e) {
        if (e instanceof Interrupted) throw e;
        process.stderr.write('failed\n');
        huskServer.available = false;
        huskServer.why = `husk server: ${oneLine(e.message)}`;
        console.error(`bench: ${huskServer.why}`);
        notes.push(`husk+server not timed: ${huskServer.why}`);
        stopServer();
        huskServer.env = husk.env;
      }
    }

    versions.husk = husk.available ? version(husk, ['--version']) : 'not found';
    versions.runc = runc.available ? version(runc, ['--version']) : 'not found';

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
          ...perRuntime(() => ({ stats: null, error: oneLine(e.message) })),
          ratios: Object.fromEntries(RATIOS.map(([a, b]) => [`${a.name}/${b.name}`, null])),
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
    await section(8, 'pod start through containerd CRI', () => scenarioPod());
    await section(9, 'engines: podman, docker, ctr run --rm', () => scenarioEngines(rootfs));

    // The server itself, before clean-up stops it: its memory now, the calls it did not take
    // (they ran the Node CLI and so are not what the column claims) and anything it logged.
    if (server) {
      serverInfo.process = { afterStart: server.rss.afterStart, atEnd: serverRss() };
      serverInfo.fallbacks = serverFallbacks();
      try {
        serverInfo.log = fs.readFileSync(server.logFile, 'utf8').split('\n').filter(Boolean);
      } catch {
        /* none */
      }
    }
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

  const order = ['1', '2', '3', '4a', '4b', '5a', '5b', '6a', '6b', '7', '8', '9a', '9b', '9c'];
  rows.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
  notes.push(...leakNotes);
  for (const r of rows) {
    for (const rt of RUNTIMES)
      if (r[rt.key]?.failures)
        notes.push(`${r.id} ${rt.name}: ${r[rt.key].failures} failed sample(s): ${r[rt.key].error}`);
  }
  const mib = (kib) => `${(kib / 1024).toFixed(1)} MiB`;
  if (serverInfo.process) {
    const { afterStart: a, atEnd: b } = serverInfo.process;
    notes.push(
      b
        ? `husk+server: the server process itself (\`node bin/husk.js server\`; 6b's husk+server cell is the front alone) held ${mib(b.rssKiB)} VmRSS at the end${a ? ` (${mib(a.rssKiB)} right after start)` : ''}, peak VmHWM ${mib(b.hwmKiB)}`
        : 'husk+server: the server process was gone at the end (its later calls ran the Node CLI)',
    );
  }
  if (serverInfo.fallbacks.length) {
    // Each line is a call's arguments: `--root DIR VERB ...`.
    const verbs = new Set(
      serverInfo.fallbacks.map((l) =>
        l.split(' ').find((w, i, a) => !w.startsWith('-') && a[i - 1] !== '--root'),
      ),
    );
    notes.push(
      `husk+server: ${serverInfo.fallbacks.length} call(s) ran the Node CLI instead of the server, so some of its cells are not the server's (verbs: ${[...verbs].join(', ')})`,
    );
  }
  if (serverInfo.log.length)
    notes.push(
      `husk+server: the server logged ${serverInfo.log.length} line(s), first: ${oneLine(serverInfo.log[0])}`,
    );
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
        huskServerDir: husk.env.HUSK_SERVER_DIR ?? null, // no server there: always the Node CLI
      },
      huskServer: {
        bin: HUSK, // the same front (and snapshot) as husk
        available: huskServer.available,
        why: huskServer.why,
        command: serverInfo.command,
        huskServerDir: serverInfo.dir,
        process: serverInfo.process, // the server's own VmRSS/VmHWM/Pss, in KiB
        fallbacks: serverInfo.fallbacks,
        log: serverInfo.log,
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
