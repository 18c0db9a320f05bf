// A small protobuf (proto2) codec, enough for criu's RPC messages: varints, length-delimited
// strings and nested messages, repeated fields. A message is described by a schema (field name ->
// number and type); unknown fields are skipped when decoding, as protobuf requires.
export type FieldType = 'int32' | 'uint32' | 'bool' | 'string' | 'enum' | 'message';

export interface Field {
  n: number;
  t: FieldType;
  repeated?: boolean;
  msg?: Schema; // for t === 'message'
}

export type Schema = Record<string, Field>;
export type Message = Record<string, unknown>;

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

function varint(out: number[], v: bigint): void {
  // Negative int32s go out as 64-bit two's complement (ten bytes), as protobuf says.
  let x = v < 0n ? v + (1n << 64n) : v;
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x) b |= 0x80;
    out.push(b);
  } while (x);
}

function encodeField(out: number[], f: Field, v: unknown): void {
  if (f.t === 'string' || f.t === 'message') {
    const body = f.t === 'string' ? Buffer.from(String(v), 'utf8') : encode(f.msg!, v as Message);
    varint(out, BigInt((f.n << 3) | LEN));
    varint(out, BigInt(body.length));
    for (const b of body) out.push(b);
    return;
  }
  varint(out, BigInt((f.n << 3) | VARINT));
  varint(out, BigInt(f.t === 'bool' ? (v ? 1 : 0) : Number(v)));
}

export function encode(schema: Schema, m: Message): Buffer {
  const out: number[] = [];
  // Fields in number order, as protobuf encoders write them.
  const names = Object.keys(m)
    .filter((k) => m[k] !== undefined && m[k] !== null)
    .sort((a, b) => (schema[a]?.n ?? 0) - (schema[b]?.n ?? 0));
  for (const name of names) {
    const f = schema[name];
    if (!f) throw new Error(`protobuf: no field ${name} in this message`);
    const v = m[name];
    if (f.repeated) for (const item of v as unknown[]) encodeField(out, f, item);
    else encodeField(out, f, v);
  }
  return Buffer.from(out);
}

class Reader {
  pos = 0;
  constructor(private buf: Buffer) {}
  done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('protobuf: truncated varint');
      const b = this.buf[this.pos++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
      if (shift > 63n) throw new Error('protobuf: varint too long');
    }
  }
  bytes(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new Error('protobuf: truncated field');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

function asInt32(v: bigint): number {
  return Number(BigInt.asIntN(32, v));
}

export function decode(schema: Schema, buf: Buffer): Message {
  const byNumber = new Map<number, [string, Field]>();
  for (const [name, f] of Object.entries(schema)) byNumber.set(f.n, [name, f]);
  const m: Message = {};
  const r = new Reader(buf);
  while (!r.done()) {
    const tag = Number(r.varint());
    const wire = tag & 7;
    const entry = byNumber.get(tag >>> 3);
    let value: unknown;
    if (wire === VARINT) {
      const v = r.varint();
      if (!entry) continue;
      const t = entry[1].t;
      value = t === 'bool' ? v !== 0n : t === 'uint32' ? Number(BigInt.asUintN(32, v)) : asInt32(v);
    } else if (wire === LEN) {
      const body = r.bytes(Number(r.varint()));
      if (!entry) continue;
      const f = entry[1];
      if (f.t === 'string') value = body.toString('utf8');
      else if (f.t === 'message') value = decode(f.msg!, body);
      else throw new Error(`protobuf: field ${entry[0]} is not length-delimited`);
    } else if (wire === I64) {
      r.bytes(8);
      continue;
    } else if (wire === I32) {
      r.bytes(4);
      continue;
    } else {
      throw new Error(`protobuf: wire type ${wire} not supported`);
    }
    const [name, f] = entry;
    if (f.repeated) ((m[name] ??= []) as unknown[]).push(value);
    else m[name] = value;
  }
  return m;
}
