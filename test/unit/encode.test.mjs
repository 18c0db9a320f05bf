// src/plan/encode.ts: plans laid out as the buffer husk-init reads, checked against the real
// husk-init (`husk-init --decode` prints "N ops" then "index code bodylen" lines and exits 0 only
// if the buffer is consumed exactly). No root needed: --decode only parses stdin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { load, repoRoot, fixtures, hostV1, hostV2, hostHybrid } from './helpers.mjs';

const { encodePlan } = load('plan/encode.js');
const { OP, op } = load('plan/ops.js');
const { buildPlan } = load('plan/index.js');
const { defaultSpec } = load('spec/default-config.js');

const huskInit = path.join(repoRoot, 'build', 'Release', 'husk-init');
const skipInit = fs.existsSync(huskInit)
  ? false
  : `${huskInit} is not built (npm run build:native); decode tests skipped`;

function decode(buf) {
  const r = spawnSync(huskInit, ['--decode'], { input: buf });
  assert.equal(r.error, undefined, String(r.error));
  const out = r.stdout.toString().trim().split('\n');
  const count = Number(/^(\d+) ops$/.exec(out[0])?.[1]);
  const ops = out.slice(1).map((l) => l.split(' ').map(Number));
  return { status: r.status, count, ops, stderr: r.stderr.toString() };
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
  const buf = encodePlan([
    op('SYMLINK', '/x', {}, [{ str: 'ab' }, { str: '/dev/x' }]),
    op('CREDS', '/x', {}, [
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
  const buf = encodePlan([op('HOSTNAME', '/hostname', {}, [{ str: 'héllo-☃' }])]);
  const len = Buffer.byteLength('héllo-☃');
  assert.equal(buf.readUInt32LE(24), len);
  assert.equal(buf.readUInt32LE(20), 4 + pad4(len + 1));
  assert.equal(buf.toString('utf8', 28, 28 + len), 'héllo-☃');
});

test('strings with a NUL byte are refused by the encoder', () => {
  assert.throws(() => encodePlan([op('HOSTNAME', '/hostname', {}, [{ str: 'a\0b' }])]), /NUL/);
  assert.throws(
    () => encodePlan([op('EXEC', '/process/args', {}, [{ strv: ['sh', 'x\0'] }, { strv: [] }])]),
    /NUL/,
  );
});

/** @type {Array<[string, () => any]>} */
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
  ...fixtures().map(
    ({ name, spec }) =>
      /** @type {[string, () => any]} */ ([
        `${name} on v1`,
        () => buildPlan(spec, hostV1(), { id: 'c1', bundle: '/b', consoleSocket: true }),
      ]),
  ),
];

for (const [label, make] of PLANS) {
  test(`${label}: husk-init decodes every op with the codes and lengths encoded`, { skip: skipInit }, () => {
    const { ops } = make();
    const buf = encodePlan(ops);
    assert.equal(buf.length % 4, 0);
    const d = decode(buf);
    assert.equal(d.status, 0, `husk-init --decode failed: ${d.stderr}`);
    assert.equal(d.count, ops.length);
    assert.equal(d.ops.length, ops.length);
    d.ops.forEach(([index, code, len], i) => {
      assert.equal(index, i);
      assert.equal(code, OP[ops[i].op], `op ${i} (${ops[i].op})`);
      assert.equal(len % 4, 0, `op ${i} body length ${len} is not a multiple of 4`);
      assert.equal(len, bodySize(ops[i]), `op ${i} (${ops[i].op}) body length`);
    });
  });
}

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
