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
