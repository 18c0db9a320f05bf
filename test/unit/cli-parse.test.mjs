// src/cli/parse.ts: the command line's fast path. The plain path (long global options, the
// verb, its positionals) must give what yargs-parser gives for the same words; what it does not
// take is left to yargs-parser; what neither is sure of goes to full yargs (null).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './helpers.mjs';

const { fastParse, joinDashValues } = load('cli/parse.js');
const { VERBS } = load('cli/verbs.js');

const parse = (argv, viaParser = false) => fastParse(joinDashValues(argv, VERBS), VERBS, viaParser);
const plain = (r) => r && { verb: r.verb.name, args: r.args };

const SAME = [
  ['state', 'c1'],
  ['start', 'c1'],
  ['delete', 'c1'],
  ['kill', 'c1'],
  ['kill', 'c1', 'KILL'],
  ['kill', 'c1', '9'],
  ['pause', 'c1'],
  ['resume', 'c1'],
  ['list'],
  ['features'],
  ['create', 'c1'],
  ['run', 'c1'],
  ['--root', '/run/x', 'state', 'c1'],
  ['--root=/run/x', 'state', '0x1F'],
  ['--root', '/run/x', '--log', '/tmp/l.json', '--log-format', 'json', 'delete', 'c1'],
  ['--log-format=text', '--debug', 'state', 'c1'],
  ['--systemd-cgroup', '--root', '/r', 'start', 'c1'],
  ['--rootless', 'true', 'state', 'c1'],
  ['--rootless=false', '--criu', '/x', 'list'],
  // Outside the plain path: both go through yargs-parser.
  ['delete', '--force', 'c1'],
  ['-root', '/r', 'state', 'c1'],
  ['--debug=true', 'state', 'c1'],
  ['--root', '/a', '--root', '/b', 'state', 'c1'],
  ['--log-format', 'xml', 'state', 'c1'],
  ['ps', 'c1', 'aux'],
];

test('the plain path reads what yargs-parser reads', () => {
  for (const argv of SAME) {
    const fast = parse(argv);
    const viaParser = parse(argv, true);
    assert.deepEqual(plain(fast), plain(viaParser), argv.join(' '));
  }
});

test('what the fast path hands to full yargs: wrong positionals, unknown verbs and flags, help', () => {
  for (const argv of [
    ['state'],
    ['state', 'a', 'b'],
    ['kill', 'a', 'KILL', 'extra'],
    ['nope', 'c1'],
    ['--nope', 'state', 'c1'],
    ['--help'],
    ['state', 'c1', '--help'],
    ['--log-format', 'xml', 'state', 'c1'],
  ]) {
    assert.equal(parse(argv), null, argv.join(' '));
    assert.equal(parse(argv, true), null, argv.join(' '));
  }
});

test('values the plain path reads', () => {
  const r = parse([
    '--root',
    '/run/x',
    '--log=/tmp/l',
    '--log-format',
    'json',
    '--debug',
    'kill',
    'c1',
    'TERM',
  ]);
  assert.equal(r.verb.name, 'kill');
  assert.equal(r.args.root, '/run/x');
  assert.equal(r.args.log, '/tmp/l');
  assert.equal(r.args['log-format'], 'json');
  assert.equal(r.args.debug, true);
  assert.equal(r.args['systemd-cgroup'], false);
  assert.equal(r.args.rootless, 'auto');
  assert.equal(r.args.id, 'c1');
  assert.equal(r.args.signal, 'TERM');
  assert.equal(r.args.all, false);
  assert.equal(r.args.a, false);
});

// go-runc's words (containerd's shim): Go's flag package takes "-name" for "--name", and go-runc
// passes restore's -no-subreaper so.
test("one-dash long flags are long flags; exec's command is left alone", () => {
  // prettier-ignore
  const r = parse([
    '--root', '/r', '--log', '/b/log.json', '--log-format', 'json', 'restore',
    '--image-path', '/i', '--work-path', '/w', '--detach', '--pid-file', '/b/init.pid',
    '-no-subreaper', '--bundle', '/b', 'c1',
  ]);
  assert.equal(r?.verb.name, 'restore');
  assert.equal(r.args['no-subreaper'], true);
  assert.equal(r.args.detach, true);
  assert.equal(r.args.bundle, '/b');
  assert.equal(r.args['pid-file'], '/b/init.pid');
  assert.equal(r.args.id, 'c1');
  const g = parse(['-root', '/r', 'delete', '-force', 'c1']);
  assert.equal(g?.args.root, '/r');
  assert.equal(g.args.force, true);
  assert.equal(parse(['list', '-format=json'])?.args.format, 'json');
  const x = parse(['exec', '-t', 'c1', 'sh', '-root', '-detach']);
  assert.equal(x?.args.tty, true);
  assert.deepEqual(x.args.command, ['sh', '-root', '-detach']);
  assert.equal(x.args.detach, false);
});
