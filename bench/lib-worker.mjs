// Child process of bench/run.mjs for scenario 7: drives husk's in-process library API
// (dist/lib.js) and, interleaved with it, spawns `runc run`, timing both in the same process.
// It is started with NODE_EXTRA_CA_CERTS removed from its environment, so it and the runc it
// spawns run without it. Input: one JSON argument; output: a JSON file (never stdout, which the
// library's logger or a container could write to).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';

const cfg = JSON.parse(process.argv[2]);
const require = createRequire(import.meta.url);
const out = {
  lib: { samples: [], failures: 0, firstError: null },
  runc: { samples: [], failures: 0, firstError: null },
};
let stop = false;
// run() forwards SIGINT/SIGTERM to the container while it waits; this listener also ends the loop.
process.on('SIGINT', () => (stop = true));
process.on('SIGTERM', () => (stop = true));

function write() {
  fs.writeFileSync(cfg.outFile, JSON.stringify(out));
}

function msSince(t0) {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const tick = () => new Promise((r) => setImmediate(r));

async function main() {
  let lib;
  try {
    lib = require(cfg.lib);
    for (const f of ['makeContext', 'run', 'destroy']) {
      if (typeof lib[f] !== 'function') throw new Error(`${cfg.lib} does not export ${f}()`);
    }
  } catch (e) {
    out.error = `require(${cfg.lib}): ${e.message}`;
    return;
  }
  let ctx;
  try {
    ctx = lib.makeContext({ root: cfg.huskRoot, inProcess: true });
  } catch (e) {
    out.error = `makeContext: ${e.message}`;
    return;
  }
  const errFile = cfg.outFile + '.runc-stderr';
  // Leak check: open fds, RSS and signal listeners after the warm-up and at the end.
  const probe = () => ({
    fds: fs.readdirSync('/proc/self/fd').length,
    rssKiB: Math.round(process.memoryUsage().rss / 1024),
    sigintListeners: process.listenerCount('SIGINT'),
  });
  // One container through each: the library's run(), or a spawned `runc run`. Returns ms or null.
  let seq = 0;
  async function once(who) {
    const id = `${cfg.idPrefix}-${who}-${seq++}`;
    const rec = out[who];
    if (who === 'lib') {
      const t0 = process.hrtime.bigint();
      try {
        const code = await lib.run(ctx, id, { bundle: cfg.bundle });
        const ms = msSince(t0);
        if (code !== 0) throw new Error(`run() returned exit code ${code}`);
        return ms;
      } catch (e) {
        rec.failures++;
        rec.firstError ??= `run(): ${e.message}`;
        try {
          lib.destroy(ctx, id, true);
        } catch {
          /* never created */
        }
        return null;
      }
    }
    const fd = fs.openSync(errFile, 'w');
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cfg.runc, ['--root', cfg.runcRoot, 'run', '--bundle', cfg.bundle, id], {
      stdio: ['ignore', 'ignore', fd],
      timeout: 30_000,
      killSignal: 'SIGKILL',
    });
    const ms = msSince(t0);
    fs.closeSync(fd);
    if (r.status === 0) return ms;
    rec.failures++;
    const msg = fs.readFileSync(errFile, 'utf8').trim().split('\n').pop();
    rec.firstError ??= `runc run: ${r.error?.message ?? msg ?? ''} (status ${r.status}, signal ${r.signal})`;
    spawnSync(cfg.runc, ['--root', cfg.runcRoot, 'delete', '--force', id], { stdio: 'ignore' });
    return null;
  }
  const hopeless = () => out.lib.samples.length === 0 && out.lib.failures >= 3;

  // Warm-up: V8 optimizes the library's code over its first few dozen containers. Their times
  // are kept apart (the cost of a process's first containers) and reported.
  out.warmupLib = [];
  for (let i = 0; i < cfg.warmup && !stop && !hopeless(); i++) {
    const ms = await once('lib');
    if (ms !== null) out.warmupLib.push(ms);
    await once('runc');
  }
  out.afterWarmup = probe();
  // Measured one by one: a `runc run` between every two library runs, the order swapped every
  // round, so drift falls on both.
  for (let i = 0; out.lib.samples.length + out.lib.failures < cfg.n && !stop && !hopeless(); i++)
    for (const who of i % 2 ? ['runc', 'lib'] : ['lib', 'runc']) {
      const ms = await once(who);
      if (ms !== null) out[who].samples.push(ms);
      await tick();
    }
  // Then library runs back to back (`backToBack` of them), as a program running containers one
  // after another does: each starts while the kernel still tears down the one before (its
  // network namespace above all), which a `runc run` in between hides.
  out.backToBack = [];
  for (let i = 0; i < (cfg.backToBack ?? 0) && !stop && !hopeless(); i++) {
    const ms = await once('lib');
    if (ms !== null) out.backToBack.push(ms);
    await tick();
  }
  if (out.lib.samples.length === 0 && out.lib.failures >= 3) out.error = out.lib.firstError;
  // run() closes the removed state directory's lock fd on the thread pool: give the last one a
  // moment, so that it is not counted as held.
  await new Promise((r) => setTimeout(r, 100));
  out.atEnd = probe();
  fs.rmSync(errFile, { force: true });
  if (stop) out.interrupted = true;
}

try {
  await main();
} catch (e) {
  out.error = `worker: ${e.stack ?? e}`;
}
write();
// The library may keep handles (signal listeners, a wait thread pool); do not wait for them.
process.exit(0);
