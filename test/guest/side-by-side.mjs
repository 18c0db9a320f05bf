#!/usr/bin/env node
// The guest suite's table: one row per check of the guest checks and of criu.test.mjs (from
// each runtime's TAP files) and the conformance totals (from conformance/results/<runtime>.json),
// one column per runtime. Exits 1 when the first runtime named (husk) failed a check.
//   node test/guest/side-by-side.mjs RESULTS_DIR husk runc crun
import fs from 'node:fs';
import path from 'node:path';

const [dir, ...runtimes] = process.argv.slice(2);

// TAP from node:test: "# Subtest: <suite>" then indented "ok N - <test>" / "not ok N - <test>".
// Suite names carry the runtime ("husk, ..." or "... (husk)"): rows are matched without it.
function tapResults(file, runtime) {
  const out = new Map();
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  let suite = '';
  for (const line of text.split('\n')) {
    const s = /^# Subtest: (.*)$/.exec(line);
    if (s) suite = s[1].replace(/^\S+, /, '').replace(` (${runtime})`, '');
    const m = /^ {4}(not ok|ok) \d+ - (.*?)(?: # (SKIP|TODO).*)?$/.exec(line);
    if (m)
      out.set(
        `${suite}: ${m[2]}`,
        m[3] === 'SKIP' ? 'skip' : m[3] === 'TODO' ? 'xfail' : m[1] === 'ok' ? 'pass' : 'FAIL',
      );
  }
  return out;
}

// The checks, then checkpoint/restore (crun has no criu run: run-suite.sh says why).
const per = runtimes.map(
  (r) =>
    new Map([
      ...tapResults(path.join(dir, `${r}.tap`), r),
      ...tapResults(path.join(dir, `${r}-criu.tap`), r),
    ]),
);
const names = [...new Set(per.flatMap((m) => [...m.keys()]))];
const w = Math.min(90, Math.max(20, ...names.map((n) => n.length)));
const row = (name, cells) => `${name.slice(0, w).padEnd(w)}  ${cells.map((c) => c.padEnd(6)).join(' ')}`;
console.log(row('check', runtimes));
for (const n of names)
  console.log(
    row(
      n,
      per.map((m) => m.get(n) ?? '-'),
    ),
  );

// husk's conformance in the guest runs through its server (husk-server.json: run-suite.sh says why).
const conf = runtimes.map((r) => {
  try {
    const file = [`${r}.json`, `${r}-server.json`].find((f) => fs.existsSync(path.join(dir, f)));
    const j = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    const rows = j.rows ?? j.results ?? j;
    const count = (k) => rows.filter((x) => x.result === k).length;
    return `${count('pass')}/${count('fail')}/${count('xfail')}/${count('skip')}`;
  } catch {
    return '-';
  }
});
console.log(row('conformance pass/fail/xfail/skip (husk: through its server)', conf));
const failed = [...per[0].values()].filter((v) => v === 'FAIL').length;
console.log(
  `\n${runtimes[0]}: ${failed ? `${failed} check(s) failed` : 'every check passed or skipped with a reason'}`,
);
process.exit(failed ? 1 : 0);
