// runc's command line as tools read it (issue 19, "The command line as tools read it"; issue 23
// item 4): verbs and flags, --version, --debug logs, the spec template, exec's own failures and
// process files. RUNTIME=/usr/sbin/runc runs the same checks against runc; the few that are
// husk's own (a verb runc has and husk does not yet) say so.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SKIP, env, husk as runHusk, makeBundle, show, waitFor } from '../lib/harness.mjs';

const RUNTIME = process.env.RUNTIME ? path.resolve(process.env.RUNTIME) : undefined;
const IS_HUSK = !RUNTIME || /husk/.test(path.basename(RUNTIME));
const NAME = IS_HUSK ? 'husk' : path.basename(RUNTIME);
const rt = (args, opts = {}) => runHusk(args, { runtime: RUNTIME, ...opts });

describe(`the command line (${RUNTIME ?? 'husk'})`, { skip: SKIP }, () => {
  test('an unknown verb fails naming it, with or without --help', () => {
    for (const args of [['nosuchverb'], ['nosuchverb', '--help'], ['help', 'nosuchverb']]) {
      const r = rt(args);
      assert.notEqual(r.code, 0, `${args.join(' ')}: ${show(r)}`);
      assert.match(r.stderr, /No help topic for 'nosuchverb'/, `${args.join(' ')}: ${show(r)}`);
      assert.equal(r.stdout, '', `${args.join(' ')}: no help text on stdout`);
    }
  });

  test('checkpoint/restore --help: exit 0 only where the verb exists', () => {
    for (const verb of ['checkpoint', 'restore']) {
      const r = rt([verb, '--help']);
      // runc has both; husk has neither yet, and podman takes exit 0 for support.
      if (IS_HUSK) {
        assert.notEqual(r.code, 0, show(r));
        assert.match(r.stderr, new RegExp(`No help topic for '${verb}'`), show(r));
      } else assert.equal(r.code, 0, show(r));
    }
  });

  test('VERB --help (and help VERB) lists the verb flags, exit 0', () => {
    for (const args of [
      ['exec', '--help'],
      ['help', 'exec'],
    ]) {
      const r = rt(args);
      assert.equal(r.code, 0, show(r));
      for (const flag of ['--pid-file', '--process', '--tty', '--user', '--cwd', '--detach'])
        assert.ok(r.stdout.includes(flag), `${args.join(' ')} lists ${flag}: ${show(r)}`);
    }
    const r = rt(['spec', '--help']);
    assert.equal(r.code, 0, show(r));
    for (const flag of ['--bundle', '--rootless']) assert.ok(r.stdout.includes(flag), show(r));
  });

  test('an unknown flag fails naming it, before or after the verb', () => {
    for (const args of [
      ['state', '--nosuchflag', 'x'],
      ['--nosuchflag', 'state', 'x'],
      ['exec', '--nosuchflag', 'x', 'true'],
    ]) {
      const r = rt(args);
      assert.notEqual(r.code, 0, `${args.join(' ')}: ${show(r)}`);
      assert.match(r.stderr, /flag provided but not defined: -+nosuchflag/, `${args.join(' ')}: ${show(r)}`);
    }
  });

  test('-v and --version print NAME version, commit and spec lines', () => {
    for (const args of [['-v'], ['--version'], ['--root', '/tmp/x', '--version']]) {
      const r = rt(args);
      assert.equal(r.code, 0, show(r));
      const lines = r.stdout.split('\n');
      assert.match(lines[0], new RegExp(`^${NAME} version \\S+$`), show(r));
      assert.match(lines[1], /^commit: \S+$/, show(r));
      assert.match(lines[2], /^spec: \d+\.\d+\.\d+(-dev)?$/, show(r));
    }
  });
});

// One line of runc's logrus output in either format: { level, msg, time }, or null.
function logLine(line, format) {
  if (format === 'json') {
    const o = JSON.parse(line);
    assert.equal(typeof o.msg, 'string', line);
    assert.ok(!Number.isNaN(Date.parse(o.time)), `time in ${line}`);
    return o;
  }
  const m = /^time="([^"]+)" level=(\w+) msg=("(?:[^"\\]|\\.)*")/.exec(line);
  assert.ok(m, `a logrus text line: ${line}`);
  assert.ok(!Number.isNaN(Date.parse(m[1])), `time in ${line}`);
  return { time: m[1], level: m[2], msg: JSON.parse(m[3]) };
}

describe(`--debug and --log (${RUNTIME ?? 'husk'})`, { skip: SKIP }, () => {
  for (const format of ['text', 'json'])
    test(`run --debug writes debug lines to --log (${format})`, (t) => {
      const e = env(t, { runtime: RUNTIME });
      const b = makeBundle(t);
      const log = path.join(b.dir, 'log');
      const id = e.id(`dbg${format}`);
      const r = e.husk(['--debug', '--log', log, '--log-format', format, 'run', '-b', b.dir, id]);
      assert.equal(r.code, 0, show(r));
      const lines = fs
        .readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => logLine(l, format));
      const debug = lines.filter((l) => l.level === 'debug');
      assert.ok(debug.length > 0, `debug lines in ${fs.readFileSync(log, 'utf8')}`);
      if (IS_HUSK) {
        // husk's own steps, named: the config, the plan, the init's pid, the exit.
        const text = debug.map((l) => l.msg).join('\n');
        for (const step of [
          /config loaded from .*config\.json/,
          /launch plan built/,
          /init pid \d+/,
          /exited/,
        ])
          assert.match(text, step);
      }
      const quiet = path.join(b.dir, 'quiet');
      const q = e.husk(['--log', quiet, '--log-format', format, 'run', '-b', b.dir, e.id(`q${format}`)]);
      assert.equal(q.code, 0, show(q));
      const ql = fs.existsSync(quiet) ? fs.readFileSync(quiet, 'utf8').split('\n').filter(Boolean) : [];
      assert.deepEqual(
        ql.map((l) => logLine(l, format)).filter((l) => l.level === 'debug'),
        [],
        'no debug lines without --debug',
      );
    });

  test('an error goes to --log as an error line', (t) => {
    const e = env(t, { runtime: RUNTIME });
    const dir = e.tmpdir();
    const log = path.join(dir, 'log.json');
    const r = e.husk(['--log', log, '--log-format', 'json', 'state', e.id('nosuch')]);
    assert.notEqual(r.code, 0, show(r));
    const lines = fs
      .readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => logLine(l, 'json'));
    assert.ok(
      lines.some((l) => l.level === 'error' && /does not exist/.test(l.msg)),
      fs.readFileSync(log, 'utf8'),
    );
  });
});
