// src/plan/encode.ts: plans laid out as the buffer husk-init reads, checked against the real
// husk-init: `husk-init --decode` prints "N ops contract HASH", then per op "index code bodylen
// NAME" and a "  field kind:value" line per field, read in the contract's order (its readers are
// generated from src/plan/contract/ops.json, as the planner's layout is), and exits 0 only if
// every op is known and every body and the buffer are consumed exactly. No root needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { load, repoRoot, fixtures, hostV1, hostV2, hostHybrid } from './helpers.mjs';

const { encodePlan } = load('plan/encode.js');
const { OP, op, CONTRACT_HASH } = load('plan/ops.js');
const { LAYOUT } = load('plan/generated/contract.js');
const contract = await import(path.join(repoRoot, 'scripts', 'gen-contract.mjs'));
const { buildPlan } = load('plan/index.js');
const { defaultSpec } = load('spec/default-config.js');

const huskInit = path.join(repoRoot, 'build', 'Release', 'husk-init');
const skipInit = fs.existsSync(huskInit)
  ? false
  : `${huskInit} is not built (npm run build:native); decode tests skipped`;

function decode(buf) {
  const r = spawnSync(huskInit, ['--decode'], { input: buf });
  assert.equal(r.error, undefined, String(r.error));
  const out = r.stdout.toString().trimEnd().split('\n');
  const head = /^(\d+) ops contract (\w+)$/.exec(out[0]);
  const ops = [];
  for (const l of out.slice(1)) {
    if (l.startsWith('  ')) ops.at(-1).fields.push(l.trim());
    else {
      const [index, code, len, name] = l.split(' ');
      ops.push({ index: Number(index), code: Number(code), len: Number(len), name, fields: [] });
    }
  }
  return { status: r.status, count: Number(head?.[1]), hash: head?.[2], ops, stderr: r.stderr.toString() };
}

// A field as --decode prints it, rendered here from the encoder's input: numbers in decimal,
// strings and bytes in hex.
const hex = (s) => Buffer.from(s).toString('hex');
function shown(name, kind, f) {
  const v = Object.values(f)[0];
  const text = {
    u32: () => `u:${v}`,
    i32: () => `i:${v | 0}`,
    u64: () => `U:${BigInt.asUintN(64, BigInt(v))}`,
    str: () => `s:${hex(v)}`,
    strv: () => [`S:${v.length}`, ...v.map(hex)].join(' '),
    u32v: () => [`v:${v.length}`, ...v].join(' '),
    bytes: () => `b:${v.length} ${hex(v)}`,
  }[kind]();
  return `${name} ${text}`.trimEnd();
}

// The decoded plan is the encoded one: each op's code, name, body length and every field.
function assertDecodes(ops) {
  const buf = encodePlan(ops);
  assert.equal(buf.length % 4, 0);
  const d = decode(buf);
  assert.equal(d.status, 0, `husk-init --decode failed: ${d.stderr}`);
  assert.equal(d.count, ops.length);
  assert.equal(d.ops.length, ops.length);
  d.ops.forEach((got, i) => {
    const o = ops[i];
    assert.equal(got.index, i);
    assert.equal(got.code, OP[o.op], `op ${i} (${o.op})`);
    assert.equal(got.name, o.op);
    assert.equal(got.len % 4, 0, `op ${i} body length ${got.len} is not a multiple of 4`);
    assert.equal(got.len, bodySize(o), `op ${i} (${o.op}) body length`);
    const want = LAYOUT[o.op].map(([name, kind], k) => shown(name, kind, o.fields[k]));
    assert.deepEqual(got.fields, want, `op ${i} (${o.op}) fields`);
  });
  return d;
}

// The body size of an op, computed here independently from the layout in encode.ts.
const pad4 = (n) => Math.ceil(n / 4) * 4;
function bodySize(o) {
  let n = 0;
  for (const f of o.fields) {
    if ('u32' in f) n += 4;
    else if ('u64' in f) n += 8;
    else if ('str' in f) n += 4 + pad4(Buffer.byteLength(f.str) + 1);
    else if ('strv' in f) n += 4 + f.strv.reduce((m, s) => m + 4 + pad4(Buffer.byteLength(s) + 1), 0);
    else if ('u32v' in f) n += 4 + 4 * f.u32v.length;
    else n += 4 + pad4(f.bytes.length);
  }
  return n;
}

test('header: magic, flags 0, op count; empty plan is 16 bytes', () => {
  const buf = encodePlan([]);
  assert.equal(buf.length, 16);
  assert.equal(buf.subarray(0, 8).toString('ascii'), 'HUSKPLN1');
  assert.equal(buf.readUInt32LE(8), 0);
  assert.equal(buf.readUInt32LE(12), 0);
});

test('field layout: u32, u64, strings NUL-terminated and padded to 4, lists counted', () => {
  // Raw ops: the encoder lays out whatever fields it is given (the contract is checked below).
  const raw = (name, fields) => ({ op: name, from: '/x', show: {}, fields });
  const buf = encodePlan([
    raw('SYMLINK', [{ str: 'ab' }, { str: '/dev/x' }]),
    raw('CREDS', [
      { u32: 7 },
      { u64: -1 },
      { u32v: [1, 2] },
      { strv: ['a', ''] },
      { bytes: new Uint8Array([9, 8, 7, 6, 5]) },
    ]),
  ]);
  assert.equal(buf.readUInt32LE(12), 2);
  let at = 16;
  assert.equal(buf.readUInt32LE(at), OP.SYMLINK);
  assert.equal(buf.readUInt32LE(at + 4), 4 + 4 + 4 + 8); // "ab\0" -> 4, "/dev/x\0" -> 8
  assert.equal(buf.readUInt32LE(at + 8), 2);
  assert.equal(buf.toString('utf8', at + 12, at + 15), 'ab\0');
  assert.equal(buf.readUInt32LE(at + 16), 6);
  assert.equal(buf.toString('utf8', at + 20, at + 27), '/dev/x\0');
  at += 8 + 20;
  assert.equal(buf.readUInt32LE(at), OP.CREDS);
  const body = buf.readUInt32LE(at + 4);
  assert.equal(body, 4 + 8 + (4 + 8) + (4 + 8 + 4 + 4) + (4 + 8));
  at += 8;
  assert.equal(buf.readUInt32LE(at), 7);
  assert.equal(buf.readBigUInt64LE(at + 4), 0xffffffffffffffffn, 'negative u64 wraps as two-complement');
  assert.equal(buf.readUInt32LE(at + 12), 2);
  assert.equal(buf.readUInt32LE(at + 16), 1);
  assert.equal(buf.readUInt32LE(at + 20), 2);
  assert.equal(buf.readUInt32LE(at + 24), 2, 'strv count');
  assert.equal(buf.readUInt32LE(at + 36), 0, 'empty string length');
  assert.equal(buf.readUInt32LE(at + 44), 5, 'bytes length');
  assert.deepEqual([...buf.subarray(at + 48, at + 53)], [9, 8, 7, 6, 5]);
  assert.equal(buf.length, at + body);
});

test('multi-byte UTF-8 strings are measured in bytes', () => {
  const buf = encodePlan([op('HOSTNAME', '/hostname', {}, { name: 'héllo-☃' })]);
  const len = Buffer.byteLength('héllo-☃');
  assert.equal(buf.readUInt32LE(24), len);
  assert.equal(buf.readUInt32LE(20), 4 + pad4(len + 1));
  assert.equal(buf.toString('utf8', 28, 28 + len), 'héllo-☃');
});

test('strings with a NUL byte are refused by the encoder', () => {
  assert.throws(() => encodePlan([op('HOSTNAME', '/hostname', {}, { name: 'a\0b' })]), /NUL/);
  assert.throws(() => encodePlan([op('EXEC', '/process/args', {}, { argv: ['sh', 'x\0'], env: [] })]), /NUL/);
});

const PLANS = [
  [
    'default spec on v2',
    () => buildPlan(defaultSpec(), hostV2(), { id: 'c1', bundle: '/b', consoleSocket: true }),
  ],
  [
    'rootless default on hybrid',
    () =>
      buildPlan(defaultSpec({ rootless: true }), hostHybrid(), {
        id: 'c1',
        bundle: '/b',
        consoleSocket: true,
      }),
  ],
  ...fixtures().map(({ name, spec }) => [
    `${name} on v1`,
    () => buildPlan(spec, hostV1(), { id: 'c1', bundle: '/b', consoleSocket: true }),
  ]),
];

for (const [label, make] of PLANS) {
  test(`${label}: husk-init decodes every op and field as encoded`, { skip: skipInit }, () => {
    assertDecodes(make().ops);
  });
}

// Sample values of each kind, odd enough that a field read as another kind or out of order shows.
const SAMPLE = {
  u32: (k) => 0x01020304 + k,
  i32: (k) => -5 - k,
  u64: (k) => 0x1122334455667788n + BigInt(k),
  str: (k) => `f${k}-é ☃`,
  strv: (k) => ['', `a${k}`, 'b c'],
  u32v: (k) => [k, 0xffffffff, 7],
  bytes: (k) => new Uint8Array([k, 0, 255, 9, 1]),
};

test(
  'every op kind of the contract: built from its table and decoded field by field',
  { skip: skipInit },
  () => {
    const ops = Object.entries(LAYOUT).map(([name, fields]) =>
      op(name, `/test/${name}`, {}, Object.fromEntries(fields.map(([f, kind], k) => [f, SAMPLE[kind](k)]))),
    );
    assert.deepEqual(
      ops.map((o) => o.op),
      Object.keys(OP),
      'one op of each kind',
    );
    assertDecodes(ops);
  },
);

test('a field left to its default is laid out with the default', () => {
  const o = op(
    'MOUNT',
    '/mounts/0',
    {},
    {
      kind: 0,
      source: 's',
      dest: '/d',
      fstype: 't',
      flags: 0,
      prop: 0,
      data: '',
      remount: 0,
    },
  );
  assert.deepEqual(o.fields.slice(-3), [{ u64: 0 }, { u64: 0 }, { u32: 0 }]);
  assert.throws(() => op('MOUNT', '/mounts/0', {}, { kind: 0 }), /op MOUNT: no source/);
});

test('the generated sources are those the table makes now (npm run build:contract)', () => {
  const now = contract.generate();
  for (const [key, file] of Object.entries(contract.OUTPUTS))
    assert.equal(fs.readFileSync(file, 'utf8'), now[key], `${path.relative(repoRoot, file)} is stale`);
  assert.equal(CONTRACT_HASH, contract.readTable().hash, 'out/ was built from another table: npm run build');
});

test('husk-init was built from this table (npx node-gyp rebuild)', { skip: skipInit }, () => {
  const d = decode(encodePlan([]));
  assert.equal(d.status, 0);
  assert.equal(d.hash, contract.readTable().hash, `${huskInit} is stale`);
});

test('the table is checked: a repeated code or an unknown kind is refused', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-contract-'));
  try {
    const table = JSON.parse(fs.readFileSync(contract.TABLE, 'utf8'));
    const file = path.join(dir, 'ops.json');
    fs.writeFileSync(file, JSON.stringify({ ...table, ops: [...table.ops, { ...table.ops[0], name: 'X' }] }));
    assert.throws(() => contract.readTable(file), /\/ops\/\d+\/code: 1 is not a new/);
    const bad = structuredClone(table);
    bad.ops[1].fields[0][1] = 'u16';
    fs.writeFileSync(file, JSON.stringify(bad));
    assert.throws(() => contract.readTable(file), /\/ops\/1\/fields\/0: unknown kind "u16"/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a truncated plan makes husk-init --decode fail', { skip: skipInit }, () => {
  const buf = encodePlan(
    buildPlan(defaultSpec(), hostV2(), { id: 'c1', bundle: '/b', consoleSocket: true }).ops,
  );
  for (const cut of [buf.length - 4, Math.floor(buf.length / 2), 20])
    assert.notEqual(decode(buf.subarray(0, cut)).status, 0, `cut at ${cut} of ${buf.length}`);
  assert.notEqual(decode(Buffer.concat([buf, Buffer.alloc(4)])).status, 0, 'trailing bytes');
  const bad = Buffer.from(buf);
  bad.write('XXXX', 0);
  assert.notEqual(decode(bad).status, 0, 'bad magic');
  assert.equal(decode(buf).status, 0, 'the whole buffer decodes');
});

test('every op name in OP has a distinct code', () => {
  const codes = Object.values(OP);
  assert.equal(new Set(codes).size, codes.length);
  assert.equal(OP.SYNC, 1);
  assert.equal(OP.EXEC, 28);
});
