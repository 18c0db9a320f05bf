// src/spec/load.ts, src/spec/locate.ts and src/spec/default-config.ts: config.json parsing and
// validation errors that name the file, the line and the JSON pointer; the default config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { load, throwsHusk, clone } from './helpers.mjs';

const { parseConfig, loadConfig, describeError, validationMessage, checkVersion, SPEC_VERSION } =
  load('spec/load.js');
const { locate } = load('spec/locate.js');
const { defaultSpec } = load('spec/default-config.js');
const { validateConfig } = load('spec/generated/validators.js');

const pretty = (o) => JSON.stringify(o, null, 2);
// The 1-based line where `needle` first occurs in text.
const lineOf = (text, needle) => {
  const i = text.indexOf(needle);
  assert.ok(i >= 0, `${needle} not in text`);
  return text.slice(0, i).split('\n').length;
};

// --- parseConfig ------------------------------------------------------------------------------

test('parseConfig accepts the default config and returns it', () => {
  const spec = defaultSpec();
  assert.deepEqual(parseConfig('/b/config.json', pretty(spec)), spec);
});

test('invalid JSON: the message names the file and the line', () => {
  const text = '{\n  "ociVersion": "1.0.0",\n  "root": {,\n  }\n}\n';
  const e = throwsHusk(() => parseConfig('/b/config.json', text), /^\/b\/config\.json:3: not valid JSON: /);
  assert.doesNotMatch(e.message, /config\.json:[124]:/);
  throwsHusk(() => parseConfig('c.json', '{\n\n\n\n  "a": 1 "b"\n}'), /^c\.json:5: not valid JSON/);
});

test('schema errors name file:line and the pointer', () => {
  const base = defaultSpec();
  /** @type {Array<[(s: any) => void, string, string]>} */
  const cases = [
    [(s) => (s.process.user.uid = 'x'), '"uid": "x"', '/process/user/uid: must be an integer'],
    [
      (s) => (s.linux.namespaces[2].type = 'bogus'),
      '"bogus"',
      '/linux/namespaces/2/type: must be one of "mount", ',
    ],
    [(s) => (s.mounts[3].destination = 5), '"destination": 5', '/mounts/3/destination: must be a string'],
    [(s) => (s.process.rlimits[0].type = 'nofile'), '"nofile"', '/process/rlimits/0/type: must match '],
  ];
  for (const [mutate, needle, what] of cases) {
    const s = clone(base);
    mutate(s);
    const text = pretty(s);
    const e = throwsHusk(() => parseConfig('/b/config.json', text));
    assert.equal(
      e.message.slice(0, e.message.indexOf(': ') + 2),
      `/b/config.json:${lineOf(text, needle)}: `,
      e.message,
    );
    assert.ok(e.message.includes(what), `${e.message} should include ${what}`);
  }
});

test('a missing required property: the pointer names it, the line is its parent', () => {
  const s = defaultSpec();
  delete s.process.cwd;
  const text = pretty(s);
  throwsHusk(
    () => parseConfig('c.json', text),
    new RegExp(`^c\\.json:${lineOf(text, '"process"')}: /process/cwd: is required$`),
  );
  const t = defaultSpec();
  delete t.ociVersion;
  throwsHusk(() => parseConfig('c.json', pretty(t)), /^c\.json:1: \/ociVersion: is required$/);
});

test('a document that is not an object', () => {
  throwsHusk(() => parseConfig('c.json', '[]'), /^c\.json:1: \/: must be an object$/);
  throwsHusk(() => parseConfig('c.json', 'null'), /: \/: must be an object$/);
});

test('ociVersion: 2.0.0 rejected; 1.0.2-dev and 1.3.0 accepted; not a version rejected', () => {
  const withVersion = (v) => pretty({ ...defaultSpec(), ociVersion: v });
  throwsHusk(
    () => parseConfig('c.json', withVersion('2.0.0')),
    /^c\.json: \/ociVersion: 2\.0\.0 is not supported \(husk implements 1\.3\.0\)$/,
  );
  assert.equal(parseConfig('c.json', withVersion('1.0.2-dev')).ociVersion, '1.0.2-dev');
  assert.equal(parseConfig('c.json', withVersion('1.3.0')).ociVersion, '1.3.0');
  assert.equal(parseConfig('c.json', withVersion('1.0.0')).ociVersion, '1.0.0');
  throwsHusk(() => parseConfig('c.json', withVersion('abc')), /^c\.json:\d+: \/ociVersion: must match /);
  assert.equal(SPEC_VERSION, '1.3.0');
});

test('checkVersion on its own', () => {
  assert.doesNotThrow(() => checkVersion('f', '1.2.1'));
  assert.doesNotThrow(() => checkVersion('f', '1.0.0-rc5'));
  throwsHusk(() => checkVersion('f', '0.6.0'), /^f: \/ociVersion: 0\.6\.0 is not supported/);
  throwsHusk(() => checkVersion('f', '10.0.0'), /not supported/);
  throwsHusk(() => checkVersion('f', 'v1'), /^f: \/ociVersion: "v1" is not a version$/);
});

test('describeError for each keyword', () => {
  const d = (e) => describeError({ params: {}, ...e });
  assert.deepEqual(d({ instancePath: '/process', keyword: 'required', params: { missingProperty: 'cwd' } }), {
    pointer: '/process/cwd',
    text: 'is required',
  });
  assert.deepEqual(d({ instancePath: '/a', keyword: 'type', params: { type: 'integer' } }), {
    pointer: '/a',
    text: 'must be an integer',
  });
  assert.deepEqual(d({ instancePath: '/a', keyword: 'type', params: { type: 'string' } }), {
    pointer: '/a',
    text: 'must be a string',
  });
  assert.deepEqual(d({ instancePath: '/t', keyword: 'enum', params: { allowedValues: ['a', 1] } }), {
    pointer: '/t',
    text: 'must be one of "a", 1',
  });
  assert.deepEqual(d({ instancePath: '/l', keyword: 'minItems', params: { limit: 1 } }), {
    pointer: '/l',
    text: 'must have at least 1 item',
  });
  assert.deepEqual(d({ instancePath: '/l', keyword: 'minItems', params: { limit: 2 } }), {
    pointer: '/l',
    text: 'must have at least 2 items',
  });
  assert.deepEqual(
    d({ instancePath: '/o', keyword: 'additionalProperties', params: { additionalProperty: 'x' } }),
    { pointer: '/o/x', text: 'is not allowed here' },
  );
  assert.deepEqual(d({ instancePath: '/p', keyword: 'pattern', params: { pattern: '^a$' } }), {
    pointer: '/p',
    text: 'must match ^a$',
  });
  assert.deepEqual(d({ instancePath: '/m', keyword: 'maximum', message: 'must be <= 5' }), {
    pointer: '/m',
    text: 'must be <= 5',
  });
  assert.deepEqual(d({ instancePath: '/m', keyword: 'weird' }), { pointer: '/m', text: 'weird' });
});

test('validationMessage prefers the deepest error and locates its line', () => {
  const text = '{\n  "a": {\n    "b": [\n      1,\n      "x"\n    ]\n  }\n}';
  const errors = [
    { instancePath: '', keyword: 'required', params: { missingProperty: 'z' } },
    { instancePath: '/a/b/1', keyword: 'type', params: { type: 'integer' } },
    { instancePath: '/a', keyword: 'type', params: { type: 'object' } },
  ];
  assert.equal(validationMessage('f.json', text, errors), 'f.json:5: /a/b/1: must be an integer');
  assert.equal(
    validationMessage('f.json', text, [
      { instancePath: '/nowhere', keyword: 'type', params: { type: 'string' } },
    ]),
    'f.json: /nowhere: must be a string',
    'no line when the pointer is not in the text',
  );
});

test('loadConfig reads <bundle>/config.json; a missing file says so', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-unit-'));
  try {
    throwsHusk(() => loadConfig(dir), /config\.json: no such file \(is --bundle the bundle directory\?\)/);
    fs.writeFileSync(path.join(dir, 'config.json'), pretty(defaultSpec()));
    assert.equal(loadConfig(dir).hostname, 'husk');
    const text = pretty({ ...defaultSpec(), ociVersion: 1 });
    fs.writeFileSync(path.join(dir, 'config.json'), text);
    throwsHusk(
      () => loadConfig(dir),
      new RegExp(
        `^${path.join(dir, 'config.json')}:${lineOf(text, '"ociVersion"')}: /ociVersion: must be a string`,
      ),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// --- locate -----------------------------------------------------------------------------------

const DOC = `{
  "a": {
    "b": [
      10,
      { "c": "x" },
      [1, [2, 3]]
    ],
    "s/t": 1,
    "m~n": { "k": true },
    "q\\"uote": 2,
    "u\\u00e9": 3
  },
  "z": null
}`;

test('locate: nested objects and arrays', () => {
  assert.deepEqual(locate(DOC, ''), { line: 1, column: 1 });
  assert.deepEqual(locate(DOC, '/a'), { line: 2, column: 8 });
  assert.deepEqual(locate(DOC, '/a/b/0'), { line: 4, column: 7 });
  assert.deepEqual(locate(DOC, '/a/b/1/c'), { line: 5, column: 14 });
  assert.deepEqual(locate(DOC, '/a/b/2/1/0'), { line: 6, column: 12 });
  assert.deepEqual(locate(DOC, '/z'), { line: 13, column: 8 });
});

test('locate: ~1 is "/", ~0 is "~", escapes in keys are decoded', () => {
  assert.equal(locate(DOC, '/a/s~1t').line, 8);
  assert.equal(locate(DOC, '/a/m~0n/k').line, 9);
  assert.equal(locate(DOC, '/a/q"uote').line, 10);
  assert.equal(locate(DOC, '/a/ué').line, 11);
});

test('locate: what is not there is null', () => {
  assert.equal(locate(DOC, '/nope'), null);
  assert.equal(locate(DOC, '/a/b/7'), null);
  assert.equal(locate(DOC, '/z/deeper'), null);
  assert.equal(locate(DOC, '/a/b/x'), null);
  assert.equal(locate('{"a": ', '/a/b'), null);
});

test('locate: \\n, \\t and kin in keys are decoded as control characters', () => {
  const text = '{\n"a\\nb": 1,\n"anb": 2,\n"t\\tab": 3\n}';
  assert.equal(locate(text, '/a\nb')?.line, 2);
  assert.equal(locate(text, '/anb')?.line, 3);
  assert.equal(locate(text, '/t\tab')?.line, 4);
});

// --- the default config -----------------------------------------------------------------------

test('defaultSpec() validates against the generated validator', () => {
  const ok = validateConfig(defaultSpec());
  assert.equal(ok, true, JSON.stringify(validateConfig.errors));
});

test('defaultSpec({rootless:true}) validates and is rootless', () => {
  const spec = defaultSpec({ rootless: true, uid: 1234, gid: 5678 });
  assert.equal(validateConfig(spec), true, JSON.stringify(validateConfig.errors));
  // runc 1.1.5's template's namespaces, in its order: no network and no cgroup namespace.
  assert.deepEqual(
    spec.linux.namespaces.map((n) => n.type),
    ['pid', 'ipc', 'uts', 'mount', 'user'],
  );
  assert.deepEqual(spec.linux.uidMappings, [{ containerID: 0, hostID: 1234, size: 1 }]);
  assert.deepEqual(spec.linux.gidMappings, [{ containerID: 0, hostID: 5678, size: 1 }]);
  assert.equal(spec.linux.resources, undefined);
  const sys = spec.mounts.find((m) => m.destination === '/sys');
  assert.ok(sys.options.includes('rbind') && sys.options.includes('ro'));
  assert.ok(!spec.mounts.find((m) => m.destination === '/dev/pts').options.includes('gid=5'));
  assert.deepEqual(defaultSpec({ rootless: true }).linux.uidMappings[0].hostID, 1000);
});

test('defaultSpec() returns a fresh object each time', () => {
  const a = defaultSpec();
  a.mounts.push({ destination: '/x', type: 'tmpfs' });
  a.linux.maskedPaths.length = 0;
  const b = defaultSpec();
  assert.equal(b.mounts.length, 7);
  assert.equal(b.linux.maskedPaths.length, 10);
});

test('defaultSpec(): the capability sets are separate arrays, not shared with each other or later calls', () => {
  const a = defaultSpec();
  const bounding = a.process.capabilities.bounding;
  bounding.push('CAP_SYS_ADMIN');
  try {
    assert.deepEqual(a.process.capabilities.effective, [
      'CAP_AUDIT_WRITE',
      'CAP_KILL',
      'CAP_NET_BIND_SERVICE',
    ]);
    assert.deepEqual(defaultSpec().process.capabilities.bounding, [
      'CAP_AUDIT_WRITE',
      'CAP_KILL',
      'CAP_NET_BIND_SERVICE',
    ]);
  } finally {
    bounding.pop(); // leave the module as it was for the other tests
  }
});

test('the generated validator rejects what the schema forbids', () => {
  const s = defaultSpec();
  s.process.user.uid = -1;
  assert.equal(validateConfig(s), false);
  const t = defaultSpec();
  delete t.ociVersion;
  assert.equal(validateConfig(t), false);
});

test('the same config text twice: validated once, but each call gets its own object; another text is checked', () => {
  const text = JSON.stringify({
    ociVersion: '1.2.0',
    root: { path: 'rootfs' },
    process: { args: ['sh'], cwd: '/' },
  });
  const a = parseConfig('/b/config.json', text);
  a.process.args.push('changed');
  const b = parseConfig('/b/config.json', text);
  assert.deepEqual(b.process.args, ['sh']);
  assert.notEqual(a, b);
  const bad = text.replace('"1.2.0"', '"2.0.0"');
  throwsHusk(() => parseConfig('/b/config.json', bad), /ociVersion: 2\.0\.0 is not supported/);
  throwsHusk(() => parseConfig('/b/config.json', bad), /ociVersion: 2\.0\.0 is not supported/);
  assert.deepEqual(parseConfig('/b/config.json', text).process.args, ['sh']);
});
