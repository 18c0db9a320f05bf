// The systemd driver's extra unit properties: the device rules as DevicePolicy/DeviceAllow
// (runc's encoding, with its fallbacks for what systemd cannot say), and the
// org.systemd.property.* annotations with runc's GVariant text values.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HOSTS, load, throwsHusk } from './helpers.mjs';

const dev = load('plan/systemd-devices.js');
const ann = load('plan/systemd-annotations.js');
const { planCgroups } = load('plan/cgroups.js');

const ROOT = { base: '/', userManager: false };
const R = '/linux/resources/devices';
const sourced = (rules) => rules.map((rule, i) => ({ rule, from: `${R}/${i}` }));
const DENY_ALL = { allow: false, access: 'rwm' };
const allow = (type, major, minor, access = 'rwm') => ({ allow: true, type, major, minor, access });
const deny = (type, major, minor, access = 'rwm') => ({ allow: false, type, major, minor, access });
// The last DeviceAllow is the list; the one before it (empty) clears the unit's, as runc.
const allowList = (props) => props.filter((p) => p.name === 'DeviceAllow').at(-1).value;
const policy = (props) => props.find((p) => p.name === 'DevicePolicy').value;

describe('device rules as DevicePolicy and DeviceAllow', () => {
  test('a deny-all list: strict, an emptying DeviceAllow, then one entry per device sorted by major, minor', () => {
    const { properties, warnings } = dev.deviceProperties(
      sourced([DENY_ALL, allow('c', 10, 200), allow('b', 8, 0, 'r'), allow('c', 1, 3)]),
    );
    assert.deepEqual(
      properties.map((p) => [p.name, p.type]),
      [
        ['DevicePolicy', 's'],
        ['DeviceAllow', 'a(ss)'],
        ['DeviceAllow', 'a(ss)'],
      ],
    );
    assert.equal(policy(properties), 'strict');
    assert.deepEqual(properties[1].value, []);
    assert.deepEqual(allowList(properties), [
      ['/dev/char/1:3', 'rwm'],
      ['/dev/block/8:0', 'r'],
      ['/dev/char/10:200', 'rwm'],
    ]);
    assert.deepEqual(warnings, []);
  });

  test('wildcards: a whole major is char-<major>/block-<major>, every device char-*; "*:n" is left out with a warning', () => {
    const { properties, warnings } = dev.deviceProperties(
      sourced([
        DENY_ALL,
        allow('c', -1, -1, 'm'),
        allow('b', 8),
        allow('c', 136),
        allow('c', undefined, 5, 'rw'),
      ]),
    );
    assert.deepEqual(allowList(properties), [
      ['char-*', 'm'],
      ['block-8', 'rwm'],
      ['char-136', 'rwm'],
    ]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /systemd has no form for "c \*:5 rw".*still applied by husk/);
  });

  test('deny rules after allows take access away, as the devices cgroup would; rules of one device merge', () => {
    const props = (rules) => allowList(dev.deviceProperties(sourced([DENY_ALL, ...rules])).properties);
    assert.deepEqual(props([allow('c', 1, 3), deny('c', 1, 3, 'w')]), [['/dev/char/1:3', 'rm']]);
    assert.deepEqual(props([allow('c', 1, 3), deny('c', 1, 3)]), []);
    assert.deepEqual(props([allow('c', 1, 3, 'r'), allow('c', 1, 3, 'mw')]), [['/dev/char/1:3', 'rwm']]);
    // A later deny-all starts over.
    assert.deepEqual(props([allow('c', 1, 3), DENY_ALL, allow('c', 1, 5)]), [['/dev/char/1:5', 'rwm']]);
  });

  test('a deny cutting into a wider allowed rule is refused, naming the rule, as runc refuses it', () => {
    throwsHusk(
      () => dev.deviceProperties(sourced([DENY_ALL, allow('c', 1, -1), deny('c', 1, 3, 'r')])),
      /\/linux\/resources\/devices\/2: "deny c 1:3 r" would punch a hole in the wider rule "c 1:\* rwm"/,
    );
    // Access the wider rule does not grant is no hole.
    const { properties } = dev.deviceProperties(
      sourced([DENY_ALL, allow('c', 1, -1, 'r'), deny('c', 1, 3, 'w')]),
    );
    assert.deepEqual(allowList(properties), [['char-1', 'r']]);
  });

  test('allow-all is DevicePolicy=auto with no entries; allow-all with denials cannot be said: strict and empty, with a warning', () => {
    const all = dev.deviceProperties(sourced([{ allow: true, access: 'rwm' }]));
    assert.deepEqual(
      all.properties.map((p) => [p.name, p.value]),
      [
        ['DevicePolicy', 'auto'],
        ['DeviceAllow', []],
      ],
    );
    assert.deepEqual(all.warnings, []);
    const black = dev.deviceProperties(sourced([{ allow: true, access: 'rwm' }, deny('c', 1, 3)]));
    assert.deepEqual(
      black.properties.map((p) => [p.name, p.value]),
      [
        ['DevicePolicy', 'strict'],
        ['DeviceAllow', []],
      ],
    );
    assert.match(black.warnings[0], /cannot express deny rules in an allow-all list/);
  });

  test("through the planner: the config's rules and runc's defaults, not the linux.devices nodes; none without rules", () => {
    const spec = {
      linux: {
        cgroupsPath: 'system.slice:p:n',
        resources: { devices: [DENY_ALL, allow('c', 10, 200)] },
        devices: [
          { path: '/dev/fuse', type: 'c', major: 10, minor: 229 },
          // A default's path given in linux.devices drops that default's rule, as runc.
          { path: '/dev/zero', type: 'c', major: 1, minor: 5 },
        ],
      },
    };
    for (const mode of ['v1', 'v2', 'hybrid']) {
      const plan = planCgroups(spec, HOSTS[mode](), 'x', ROOT);
      const props = plan.systemd.properties;
      assert.equal(policy(props), 'strict', mode);
      assert.deepEqual(allowList(props), [
        ['block-*', 'm'],
        ['char-*', 'm'],
        ['/dev/char/1:3', 'rwm'],
        ['/dev/char/1:7', 'rwm'],
        ['/dev/char/1:8', 'rwm'],
        ['/dev/char/1:9', 'rwm'],
        ['/dev/char/5:0', 'rwm'],
        ['/dev/char/5:2', 'rwm'],
        ['/dev/char/10:200', 'rwm'],
        ['char-136', 'rwm'],
      ]);
    }
    const none = planCgroups({ linux: { cgroupsPath: 'system.slice:p:n' } }, HOSTS.v2(), 'x', ROOT);
    assert.ok(!none.systemd.properties.some((p) => p.name.startsWith('Device')));
    // What systemd's copy leaves out is said once, with the plan's warnings.
    const warned = planCgroups(
      { linux: { cgroupsPath: 'system.slice:p:n', resources: { devices: [DENY_ALL, allow('c', -1, 4)] } } },
      HOSTS.v2(),
      'x',
      ROOT,
    );
    assert.equal(warned.warnings.filter((w) => /no form for "c \*:4/.test(w)).length, 1);
  });

  test('systemd before 240: a whole major by its /proc/devices group, single devices only when the node exists', () => {
    const proc =
      'Character devices:\n  1 mem\n  4 /dev/vc/0\n  4 tty\n136 pts\n\nBlock devices:\n  7 loop\n259 blkext\n';
    const { entries, warnings } = dev.forOldSystemd(
      [
        ['char-*', 'm'],
        ['char-136', 'rwm'],
        ['char-4', 'rw'],
        ['block-7', 'r'],
        ['char-99', 'r'],
        ['/dev/char/1:3', 'rwm'],
        ['/dev/char/9:9', 'rwm'],
      ],
      proc,
      (p) => p === '/dev/char/1:3',
    );
    assert.deepEqual(entries, [
      ['char-*', 'm'],
      ['char-pts', 'rwm'],
      ['char-/dev/vc/0', 'rw'],
      ['block-loop', 'r'],
      ['/dev/char/1:3', 'rwm'],
    ]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /no device group for char-99/);
  });
});

describe('org.systemd.property.* annotations', () => {
  const parse = (text) => {
    const v = ann.parseGVariant(text);
    return [v.type, v.value];
  };

  test('scalars: an untyped integer is an int32, typed ones take the type; doubles, booleans, strings', () => {
    assert.deepEqual(parse('123'), ['i', 123]);
    assert.deepEqual(parse('-7'), ['i', -7]);
    assert.deepEqual(parse('uint64 123'), ['t', 123n]);
    assert.deepEqual(parse('@t 18446744073709551615'), ['t', 2n ** 64n - 1n]);
    assert.deepEqual(parse('int64 -9223372036854775808'), ['x', -(2n ** 63n)]);
    assert.deepEqual(parse('uint32 4294967295'), ['u', 4294967295]);
    assert.deepEqual(parse('byte 255'), ['y', 255]);
    assert.deepEqual(parse('int16 -5'), ['n', -5]);
    assert.deepEqual(parse('@q 7'), ['q', 7]);
    assert.deepEqual(parse('010'), ['i', 8], 'a leading 0 is octal, as godbus reads it');
    assert.deepEqual(parse('1.5'), ['d', 1.5]);
    assert.deepEqual(parse('0.75'), ['d', 0.75]);
    assert.deepEqual(parse('2e3'), ['d', 2000]);
    assert.deepEqual(parse('@d 2'), ['d', 2]);
    assert.deepEqual(parse('true'), ['b', true]);
    assert.deepEqual(parse(' boolean false '), ['b', false]);
    assert.deepEqual(parse("'inactive-or-failed'"), ['s', 'inactive-or-failed']);
    assert.deepEqual(parse('"a\\tb\\u00e9\\\'"'), ['s', "a\tbé'"]);
    assert.deepEqual(parse("objectpath '/org/x'"), ['o', '/org/x']);
    assert.deepEqual(parse("signature 'a(ss)'"), ['g', 'a(ss)']);
  });

  test('flat arrays: one type for all elements, settled as godbus settles it; @aX for an empty one', () => {
    assert.deepEqual(parse('[\'a.service\', "b.service"]'), ['as', ['a.service', 'b.service']]);
    assert.deepEqual(parse('[1, 2]'), ['ai', [1, 2]]);
    assert.deepEqual(parse('[1, 2.5]'), ['ad', [1, 2.5]]);
    assert.deepEqual(parse('[1, uint64 2]'), ['at', [1n, 2n]]);
    assert.deepEqual(parse('@ay [0, 255]'), ['ay', [0, 255]]);
    assert.deepEqual(parse('@as []'), ['as', []]);
    assert.deepEqual(parse('[true,false]'), ['ab', [true, false]]);
  });

  test('what runc cannot read, reads otherwise, or husk does not take is an error', () => {
    for (const [text, why] of /** @type {Array<[string, RegExp]>} */ ([
      ['t 123', /unknown type "t"/],
      ['bar', /unknown type "bar" \(a string needs quotes/],
      ['double 1.5', /"double" is not accepted/],
      ['0x10', /hexadecimal/],
      ['0.9', /bad number "0.9"/], // godbus reads this as 0
      ['09', /bad number/],
      ['12abc', /bad number/],
      ['123 456', /unexpected "456" after the value/],
      ['uint64 -1', /"-1" is not a valid value of type "t"/],
      ['uint64 +1', /not a valid value of type "t"/],
      ['byte 256', /not a valid value of type "y"/],
      ['2147483648', /not a valid value of type "i"/],
      ['uint64 1.5', /not a valid value of type "t"/],
      ['[]', /empty array/],
      ["[1, 'a']", /one type/],
      ['[[1]]', /arrays of arrays/],
      ['[1,]', /unexpected "\]"/],
      ['[1', /unterminated array/],
      ["'abc", /unterminated string/],
      ['"\\u12"', /bad escape/],
      ['"a\\u0000"', /NUL/],
      ["objectpath 'x'", /not a D-Bus object path/],
      ["signature 'a('", /not a D-Bus signature/],
      ["string ['a']", /an array cannot be of type "s"/],
      ['@a(ss) []', /not one husk accepts/],
      ['@t', /a value is missing/],
      ['{1: 2}', /unexpected "\{"/],
      ['<1>', /unexpected "</],
      ["b'x'", /byte strings/],
      ['', /a value is missing/],
    ]))
      assert.throws(() => ann.parseGVariant(text), why, JSON.stringify(text));
  });

  test('annotations become properties after the rest; Sec names become USec in microseconds; others are ignored', () => {
    const props = ann.annotationProperties({
      'org.systemd.property.CollectMode': "'inactive-or-failed'",
      'org.systemd.property.TimeoutStopSec': '5',
      'org.systemd.property.RuntimeMaxSec': '2.5',
      'org.systemd.property.TimeoutStopUSec': 'uint64 123456789',
      'org.example.other': 'not GVariant at all',
    });
    assert.deepEqual(props, [
      { name: 'CollectMode', type: 's', value: 'inactive-or-failed' },
      { name: 'TimeoutStopUSec', type: 't', value: 5_000_000n },
      { name: 'RuntimeMaxUSec', type: 't', value: 2_500_000n },
      { name: 'TimeoutStopUSec', type: 't', value: 123456789n },
    ]);
    const plan = planCgroups(
      {
        linux: { cgroupsPath: 'system.slice:p:n' },
        annotations: { 'org.systemd.property.Delegate': 'false' },
      },
      HOSTS.v2(),
      'x',
      ROOT,
    );
    const names = plan.systemd.properties.map((p) => p.name);
    assert.ok(
      names.indexOf('Delegate') < names.lastIndexOf('Delegate'),
      'the annotation comes after, and wins',
    );
    assert.deepEqual(plan.systemd.properties.at(-1), { name: 'Delegate', type: 'b', value: false });
  });

  test('bad annotations are errors naming the annotation; without --systemd-cgroup they are not read', () => {
    const bad = (annotations, ...why) =>
      throwsHusk(
        () => planCgroups({ linux: { cgroupsPath: 'system.slice:p:n' }, annotations }, HOSTS.v2(), 'x', ROOT),
        ...why,
      );
    bad(
      { 'org.systemd.property.Foo': 'bar' },
      /^\/annotations\/org\.systemd\.property\.Foo: "bar": unknown type/,
    );
    bad(
      { 'org.systemd.property.A1': '1' },
      /\/annotations\/org\.systemd\.property\.A1: "A1" is not a systemd property name/,
    );
    bad({ 'org.systemd.property.Ab': '1' }, /at least 3/);
    bad(
      { 'org.systemd.property.TimeoutStopSec': "'5s'" },
      /TimeoutStopSec: "'5s'": a \.\.\.Sec property takes a number/,
    );
    bad({ 'org.systemd.property.TimeoutStopSec': '-1' }, /out of range/);
    const plain = planCgroups(
      { linux: {}, annotations: { 'org.systemd.property.Foo': 'bar' } },
      HOSTS.v2(),
      'x',
    );
    assert.equal(plain.systemd, undefined);
  });
});
