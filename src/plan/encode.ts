// Lays a plan out as the flat buffer husk-init reads (addon/init/plan_reader.cc): magic,
// flags, op count, then per op: code, body length, body of 4-byte aligned fields.
import { HuskError } from '../errors';
import { OP, type Field, type Op } from './ops';

const MAGIC = Buffer.from('HUSKPLN1', 'ascii');

function fieldSize(f: Field): number {
  if ('u32' in f) return 4;
  if ('u64' in f) return 8;
  if ('str' in f) return 4 + pad(Buffer.byteLength(f.str) + 1);
  if ('strv' in f) return 4 + f.strv.reduce((n, s) => n + 4 + pad(Buffer.byteLength(s) + 1), 0);
  if ('u32v' in f) return 4 + 4 * f.u32v.length;
  return 4 + pad(f.bytes.length);
}

const pad = (n: number) => (n + 3) & ~3;

export function encodePlan(ops: Op[]): Buffer {
  let size = 16;
  for (const o of ops) size += 8 + o.fields.reduce((n, f) => n + fieldSize(f), 0);
  const buf = Buffer.alloc(size);
  MAGIC.copy(buf, 0);
  buf.writeUInt32LE(0, 8);
  buf.writeUInt32LE(ops.length, 12);
  let at = 16;
  const u32 = (v: number) => {
    buf.writeUInt32LE(v >>> 0, at);
    at += 4;
  };
  const str = (s: string) => {
    if (s.includes('\0')) throw new Error(`string contains a NUL byte: ${JSON.stringify(s)}`);
    const len = Buffer.byteLength(s);
    u32(len);
    buf.write(s, at, 'utf8');
    at += pad(len + 1);
  };
  for (const o of ops) {
    try {
      o.fields.forEach((f) => {
        if ('str' in f && f.str.includes('\0')) throw new Error('contains a NUL byte');
        if ('strv' in f && f.strv.some((x) => x.includes('\0'))) throw new Error('contains a NUL byte');
      });
    } catch (e) {
      throw new HuskError(`${o.from}: ${(e as Error).message}`);
    }
    u32(OP[o.op]);
    const lenAt = at;
    u32(0);
    const start = at;
    for (const f of o.fields) {
      if ('u32' in f) u32(f.u32);
      else if ('u64' in f) {
        buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(f.u64)), at);
        at += 8;
      } else if ('str' in f) str(f.str);
      else if ('strv' in f) {
        u32(f.strv.length);
        f.strv.forEach(str);
      } else if ('u32v' in f) {
        u32(f.u32v.length);
        f.u32v.forEach(u32);
      } else {
        u32(f.bytes.length);
        Buffer.from(f.bytes).copy(buf, at);
        at += pad(f.bytes.length);
      }
    }
    buf.writeUInt32LE(at - start, lenAt);
  }
  return buf;
}
