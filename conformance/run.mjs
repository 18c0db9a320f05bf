#!/usr/bin/env node
// Runs the OCI runtime spec conformance checks against RUNTIME (default: husk's own bin/husk), one
// test file at a time, prints node:test's report and then one row per checked statement, and
// writes the rows to results/<runtime>.json. Exits non-zero when a check fails that
// expected-failures.json does not list for this runtime.
//
//   RUNTIME=/usr/sbin/runc node conformance/run.mjs [file-filter ...] [--only REGEX]
//   node conformance/run.mjs --server   husk's front binary with a husk server running: the
//                                       same checks, every call going through the server
import fs from 'node:fs';
import path from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// The project's own runtime by default; RUNTIME=/usr/sbin/runc judges runc the same way.
process.env.RUNTIME ||= path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'husk');
const RUNTIME = process.env.RUNTIME;
const NAME = path.basename(RUNTIME);

const argv = process.argv.slice(2);
const serverAt = argv.indexOf('--server');
const viaServer = serverAt >= 0;
if (viaServer) argv.splice(serverAt, 1);
const RESULTS_NAME = viaServer ? `${NAME}-server` : NAME;
// The server is husk's: another runtime has nothing to hand calls to.
if (
  viaServer &&
  !fs.existsSync(path.join(path.dirname(fs.realpathSync(RUNTIME)), '..', '..', 'bin', 'husk.js'))
) {
  console.log(`conformance --server: ${RUNTIME} is not husk's front binary; nothing to run through a server`);
  process.exit(0);
}
const onlyAt = argv.indexOf('--only');
const only = onlyAt >= 0 ? argv.splice(onlyAt, 2)[1] : null;
const filters = argv;

const ORDER = ['runtime', 'runtime-linux', 'config', 'config-hooks', 'config-linux', 'features'];
const casesDir = path.join(here, 'cases');
const files = fs
  .readdirSync(casesDir)
  .filter((f) => f.endsWith('.test.mjs'))
  .filter((f) => !filters.length || filters.some((x) => f.includes(x)))
  .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
  .map((f) => path.join(casesDir, f));

function rank(f) {
  const i = ORDER.indexOf(f.replace(/\.test\.mjs$/, ''));
  return i < 0 ? ORDER.length : i;
}

if (!fs.existsSync(RUNTIME)) {
  console.error(`conformance: no runtime binary at ${RUNTIME} (set RUNTIME=/path/to/runtime)`);
  process.exit(2);
}
let version = '';
try {
  version = execFileSync(RUNTIME, ['--version'], { encoding: 'utf8', timeout: 10000 }).split('\n')[0];
} catch {}
console.log(`conformance: ${RUNTIME}${version ? ` (${version})` : ''}, ${files.length} file(s)\n`);

// A runtime that hangs would make every check wait for its timeouts: ask it once first.
{
  const { spawnSync } = await import('node:child_process');
  const root = fs.mkdtempSync('/tmp/husk-conf-');
  const probe = spawnSync(RUNTIME, ['--root', root, 'state', 'hc-preflight'], {
    timeout: 10000,
    stdio: 'ignore',
  });
  fs.rmSync(root, { recursive: true, force: true });
  if (probe.error || probe.signal) {
    console.error(
      `conformance: \`${RUNTIME} state\` did not answer within 10 s (${probe.error?.message ?? probe.signal}); not running the checks`,
    );
    process.exit(2);
  }
}

// --server: a husk server in a directory of its own; the test processes (and so the runtime calls)
// inherit HUSK_SERVER_DIR, so bin/husk hands every call it can to the server.
let server = null;
if (viaServer) {
  const { startHuskServer } = await import('../test/lib/husk-server.mjs');
  server = await startHuskServer(undefined, {
    entry: path.join(path.dirname(fs.realpathSync(RUNTIME)), '..', '..', 'bin', 'husk.js'),
  });
  process.env.HUSK_SERVER_DIR = server.dir;
}

// Make the shared rootfs anew, before the test processes start.
const { freshSharedRootfs } = await import('./lib/config.mjs');
freshSharedRootfs();

const rows = [];
const stream = run({
  files,
  concurrency: 1,
  ...(only ? { testNamePatterns: [new RegExp(only)] } : {}),
});
stream.on('test:pass', (d) => record(d, true));
stream.on('test:fail', (d) => record(d, false));

function record(d, passed) {
  if (d.nesting !== 0) return;
  if (only && d.skip === 'test name does not match pattern') return;
  const m = /^\[([^\]]+)\] (\S+?): (.*)$/.exec(d.name);
  const row = m
    ? { id: m[1], ref: m[2].replace(/\\#/g, '#'), title: m[3] }
    : { id: d.name, ref: '-', title: d.name };
  row.file = d.file ? path.basename(d.file) : undefined;
  if (d.skip !== undefined && d.skip !== false) {
    row.result = 'skip';
    row.reason = typeof d.skip === 'string' ? d.skip : '';
  } else if (d.todo !== undefined && d.todo !== false) {
    row.result = passed ? 'xpass' : 'xfail';
    row.reason = passed
      ? `passed, but listed in expected-failures.json (${String(d.todo).replace(/^expected failure on [^:]+: /, '')})`
      : String(d.todo).replace(/^expected failure on [^:]+: /, '');
  } else if (passed) {
    row.result = 'pass';
  } else {
    row.result = 'fail';
    row.reason = firstLine(d.details?.error);
  }
  rows.push(row);
}

function firstLine(err) {
  if (!err) return '';
  const e = err.cause ?? err;
  return String(e.message ?? e)
    .split('\n')[0]
    .slice(0, 300);
}

const reporter = stream.compose(new spec());
reporter.pipe(process.stdout, { end: false });
await new Promise((resolve) => reporter.on('end', resolve));

const counts = {};
for (const r of rows) counts[r.result] = (counts[r.result] ?? 0) + 1;
const w1 = Math.max(12, ...rows.map((r) => r.id.length));
const w2 = Math.max(8, ...rows.map((r) => r.ref.length));
const line = (a, b, c) => `${a.padEnd(w1)} | ${b.padEnd(w2)} | ${c}`;
console.log(`\nConformance of ${RUNTIME} to the OCI runtime spec v1.3.0\n`);
console.log(line('statement id', 'spec §section', 'result'));
console.log(`${'-'.repeat(w1)}-+-${'-'.repeat(w2)}-+-${'-'.repeat(20)}`);
for (const r of rows) console.log(line(r.id, r.ref, r.result + (r.reason ? ` (${r.reason})` : '')));
console.log(
  `\n${rows.length} checks: ` +
    ['pass', 'fail', 'xfail', 'xpass', 'skip'].map((k) => `${counts[k] ?? 0} ${k}`).join(', ') +
    `  (xfail: listed for ${NAME} in conformance/expected-failures.json)`,
);

const resultsDir = path.join(here, 'results');
fs.mkdirSync(resultsDir, { recursive: true });
// A run of some of the checks does not replace the record of a full run.
const partial = filters.length > 0 || only !== null;
const out = path.join(resultsDir, `${RESULTS_NAME}${partial ? '.partial' : ''}.json`);
fs.writeFileSync(
  out,
  JSON.stringify(
    {
      runtime: RUNTIME,
      version,
      spec: 'v1.3.0',
      date: new Date().toISOString(),
      partial,
      counts,
      results: rows,
    },
    null,
    2,
  ) + '\n',
);
console.log(`results written to ${path.relative(process.cwd(), out) || out}`);

if (server) {
  const tally = await server.stop();
  console.log(tally.log.trim());
  // A run where the front never reached the server checked the Node CLI a second time.
  if (!tally.served) {
    console.error('conformance --server: the server served no call');
    process.exit(1);
  }
}

const unexpected = rows.filter((r) => r.result === 'fail');
if (unexpected.length || !rows.length) {
  console.log(`\n${unexpected.length} unexpected failure(s): ${unexpected.map((r) => r.id).join(', ')}`);
  process.exitCode = 1;
}
