// The D-Bus wire format (the specification's "Message Protocol"), for the handful of types the
// systemd driver speaks: y b u i t x s o g v, arrays, structs and dict entries. We write little
// endian and read both byte orders. Alignment counts from the start of the message, which is
// why the writer and reader work on whole messages.

export interface Variant {
  type: string; // one complete type, e.g. "s" or "au"
  value: unknown;
}

export const variant = (type: string, value: unknown): Variant => ({ type, value });

export const MESSAGE = { METHOD_CALL: 1, METHOD_RETURN: 2, ERROR: 3, SIGNAL: 4 } as const;
export const FLAG_NO_REPLY_EXPECTED = 1;

export interface Message {
  type: number;
  flags?: number;
  serial?: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  replySerial?: number;
  destination?: string;
  sender?: string;
  signature?: string;
  body?: unknown[];
}

// The maximum message size the specification allows.
const MAX_MESSAGE = 2 ** 27;

const ALIGN: Record<string, number> = {
  y: 1,
  b: 4,
  n: 2,
  q: 2,
  i: 4,
  u: 4,
  x: 8,
  t: 8,
  d: 8,
  s: 4,
  o: 4,
  g: 1,
  v: 1,
  a: 4,
  '(': 8,
  '{': 8,
  h: 4,
};

// Where the complete type starting at sig[i] ends (exclusive).
export function typeEnd(sig: string, i: number): number {
  const c = sig[i];
  if (c === undefined) throw new Error(`D-Bus signature "${sig}": a type is missing at ${i}`);
  if (c === 'a') return typeEnd(sig, i + 1);
  if (c === '(' || c === '{') {
    const close = c === '(' ? ')' : '}';
    let j = i + 1;
    if (sig[j] === close) throw new Error(`D-Bus signature "${sig}": empty ${c}${close}`);
    while (sig[j] !== close) {
      if (j >= sig.length) throw new Error(`D-Bus signature "${sig}": ${c} is not closed`);
      j = typeEnd(sig, j);
    }
    return j + 1;
  }
  if (!(c in ALIGN) || c === 'h') throw new Error(`D-Bus signature "${sig}": unsupported type code "${c}"`);
  return i + 1;
}

// A signature split into its complete types: "sa(sv)u" → ["s", "a(sv)", "u"].
export function splitSignature(sig: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < sig.length;) {
    const end = typeEnd(sig, i);
    out.push(sig.slice(i, end));
    i = end;
  }
  return out;
}

export class Writer {
  private buf = Buffer.alloc(256);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  align(n: number): void {
    const pad = (n - (this.length % n)) % n;
    this.room(pad);
    this.buf.fill(0, this.length, this.length + pad);
    this.length += pad;
  }

  u8(v: number): void {
    this.room(1);
    this.buf.writeUInt8(v, this.length);
    this.length += 1;
  }

  u32(v: number): void {
    this.align(4);
    this.room(4);
    this.buf.writeUInt32LE(v, this.length);
    this.length += 4;
  }

  bytes(b: Buffer): void {
    this.room(b.length);
    b.copy(this.buf, this.length);
    this.length += b.length;
  }

  setU32(at: number, v: number): void {
    this.buf.writeUInt32LE(v, at);
  }

  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }

  write(type: string, value: unknown): void {
    const c = type[0];
    const fail = (why: string): never => {
      throw new Error(`D-Bus "${type}": ${why} (got ${JSON.stringify(value, bigints)})`);
    };
    switch (c) {
      case 'y':
        if (!isInt(value, 0, 0xff)) fail('not a byte');
        return this.u8(value as number);
      case 'b':
        if (typeof value !== 'boolean') fail('not a boolean');
        return this.u32(value ? 1 : 0);
      case 'n':
      case 'q': {
        const [lo, hi] = c === 'n' ? [-0x8000, 0x7fff] : [0, 0xffff];
        if (!isInt(value, lo, hi)) fail('out of range');
        this.align(2);
        this.room(2);
        if (c === 'n') this.buf.writeInt16LE(value as number, this.length);
        else this.buf.writeUInt16LE(value as number, this.length);
        this.length += 2;
        return;
      }
      case 'i':
        if (!isInt(value, -0x80000000, 0x7fffffff)) fail('out of range');
        this.align(4);
        this.room(4);
        this.buf.writeInt32LE(value as number, this.length);
        this.length += 4;
        return;
      case 'u':
        if (!isInt(value, 0, 0xffffffff)) fail('out of range');
        return this.u32(value as number);
      case 't':
      case 'x': {
        const big =
          typeof value === 'bigint' ? value : isInt(value) ? BigInt(value as number) : fail('not an integer');
        const [lo, hi] = c === 't' ? [0n, 2n ** 64n - 1n] : [-(2n ** 63n), 2n ** 63n - 1n];
        if (big < lo || big > hi) fail('out of range');
        this.align(8);
        this.room(8);
        if (c === 't') this.buf.writeBigUInt64LE(big, this.length);
        else this.buf.writeBigInt64LE(big, this.length);
        this.length += 8;
        return;
      }
      case 'd':
        if (typeof value !== 'number') fail('not a number');
        this.align(8);
        this.room(8);
        this.buf.writeDoubleLE(value as number, this.length);
        this.length += 8;
        return;
      case 's':
      case 'o': {
        if (typeof value !== 'string') fail('not a string');
        if (c === 'o' && !isObjectPath(value as string)) fail('not an object path');
        const b = Buffer.from(value as string, 'utf8');
        if (b.includes(0)) fail('contains NUL');
        this.u32(b.length);
        this.bytes(b);
        return this.u8(0);
      }
      case 'g': {
        if (typeof value !== 'string') fail('not a signature');
        splitSignature(value as string); // checks it
        const b = Buffer.from(value as string, 'ascii');
        if (b.length > 255) fail('signature longer than 255');
        this.u8(b.length);
        this.bytes(b);
        return this.u8(0);
      }
      case 'v': {
        const v = value as Variant;
        if (!v || typeof v !== 'object' || typeof v.type !== 'string') fail('not a variant');
        if (splitSignature(v.type).length !== 1) fail('a variant holds exactly one complete type');
        this.write('g', v.type);
        return this.write(v.type, v.value);
      }
      case 'a': {
        if (!Array.isArray(value)) fail('not an array');
        const elem = type.slice(1);
        this.u32(0);
        const lenAt = this.length - 4;
        // The padding before the first element is not part of the array's length.
        this.align(ALIGN[elem[0]]);
        const start = this.length;
        for (const e of value as unknown[]) this.write(elem, e);
        const n = this.length - start;
        if (n > 2 ** 26) fail('array longer than 64 MiB');
        this.setU32(lenAt, n);
        return;
      }
      case '(':
      case '{': {
        const fields = splitSignature(type.slice(1, -1));
        if (!Array.isArray(value) || value.length !== fields.length)
          fail(`not a ${fields.length}-field ${c === '(' ? 'struct' : 'dict entry'}`);
        this.align(8);
        fields.forEach((f, i) => this.write(f, (value as unknown[])[i]));
        return;
      }
      default:
        fail('unsupported type');
    }
  }
}

function bigints(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? `${v}n` : v;
}

function isInt(v: unknown, lo = -Infinity, hi = Infinity): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

export function isObjectPath(p: string): boolean {
  return p === '/' || /^(\/[A-Za-z0-9_]+)+$/.test(p);
}

export class Reader {
  pos: number;
  constructor(
    private buf: Buffer,
    private little: boolean,
    pos = 0,
    private end = buf.length,
  ) {
    this.pos = pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new Error('malformed D-Bus message: it ends inside a value');
  }

  align(n: number): void {
    const pad = (n - (this.pos % n)) % n;
    this.need(pad);
    for (let i = 0; i < pad; i++)
      if (this.buf[this.pos + i] !== 0) throw new Error('malformed D-Bus message: non-zero padding');
    this.pos += pad;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  u32(): number {
    this.align(4);
    this.need(4);
    const v = this.little ? this.buf.readUInt32LE(this.pos) : this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  read(type: string): unknown {
    const c = type[0];
    const L = this.little;
    switch (c) {
      case 'y':
        return this.u8();
      case 'b': {
        const v = this.u32();
        if (v > 1) throw new Error(`malformed D-Bus message: boolean ${v}`);
        return v === 1;
      }
      case 'n':
      case 'q': {
        this.align(2);
        this.need(2);
        const v =
          c === 'n'
            ? L
              ? this.buf.readInt16LE(this.pos)
              : this.buf.readInt16BE(this.pos)
            : L
              ? this.buf.readUInt16LE(this.pos)
              : this.buf.readUInt16BE(this.pos);
        this.pos += 2;
        return v;
      }
      case 'i': {
        this.align(4);
        this.need(4);
        const v = L ? this.buf.readInt32LE(this.pos) : this.buf.readInt32BE(this.pos);
        this.pos += 4;
        return v;
      }
      case 'u':
        return this.u32();
      case 't':
      case 'x':
      case 'd': {
        this.align(8);
        this.need(8);
        const p = this.pos;
        this.pos += 8;
        if (c === 't') return L ? this.buf.readBigUInt64LE(p) : this.buf.readBigUInt64BE(p);
        if (c === 'x') return L ? this.buf.readBigInt64LE(p) : this.buf.readBigInt64BE(p);
        return L ? this.buf.readDoubleLE(p) : this.buf.readDoubleBE(p);
      }
      case 's':
      case 'o':
      case 'g': {
        const n = c === 'g' ? this.u8() : this.u32();
        this.need(n + 1);
        const s = this.buf.toString('utf8', this.pos, this.pos + n);
        if (this.buf[this.pos + n] !== 0) throw new Error('malformed D-Bus message: string without NUL');
        this.pos += n + 1;
        if (c === 'o' && !isObjectPath(s)) throw new Error(`malformed D-Bus message: bad object path "${s}"`);
        return s;
      }
      case 'v': {
        const sig = this.read('g') as string;
        if (splitSignature(sig).length !== 1)
          throw new Error(`malformed D-Bus message: variant signature "${sig}"`);
        return variant(sig, this.read(sig));
      }
      case 'a': {
        const n = this.u32();
        if (n > 2 ** 26) throw new Error('malformed D-Bus message: array longer than 64 MiB');
        const elem = type.slice(1);
        this.align(ALIGN[elem[0]]);
        const stop = this.pos + n;
        this.need(n);
        const out: unknown[] = [];
        while (this.pos < stop) out.push(this.read(elem));
        if (this.pos !== stop) throw new Error('malformed D-Bus message: array length mismatch');
        return out;
      }
      case '(':
      case '{': {
        this.align(8);
        return splitSignature(type.slice(1, -1)).map((f) => this.read(f));
      }
      default:
        throw new Error(`D-Bus: cannot read type "${type}"`);
    }
  }
}

const FIELD = {
  path: [1, 'o'],
  interface: [2, 's'],
  member: [3, 's'],
  errorName: [4, 's'],
  replySerial: [5, 'u'],
  destination: [6, 's'],
  sender: [7, 's'],
  signature: [8, 'g'],
} as const;

// A whole message: the fixed header, the header fields (a(yv)), padding to 8, the body.
export function encodeMessage(m: Message): Buffer {
  const sig = m.signature ?? '';
  const types = splitSignature(sig);
  const body = m.body ?? [];
  if (types.length !== body.length)
    throw new Error(`D-Bus body: signature "${sig}" has ${types.length} types, got ${body.length} values`);
  const fields: [number, Variant][] = [];
  for (const [name, [code, type]] of Object.entries(FIELD)) {
    const v = m[name as keyof typeof FIELD];
    if (v === undefined || (name === 'signature' && v === '')) continue;
    fields.push([code, variant(type, v)]);
  }
  // The body is laid out from an 8-aligned offset, so its alignment does not depend on the
  // header's length: write it on its own.
  const bw = new Writer();
  types.forEach((t, i) => bw.write(t, body[i]));
  const w = new Writer();
  w.u8(0x6c); // 'l': little endian
  w.u8(m.type);
  w.u8(m.flags ?? 0);
  w.u8(1); // protocol version
  w.u32(bw.length);
  w.u32(m.serial ?? 0);
  w.write('a(yv)', fields);
  w.align(8);
  w.bytes(bw.result());
  if (w.length > MAX_MESSAGE) throw new Error('D-Bus message longer than 128 MiB');
  return w.result();
}

// The length of the first message in buf once its header is there, else null.
export function messageLength(buf: Buffer): number | null {
  if (buf.length < 16) return null;
  const little = endianOf(buf);
  const bodyLen = little ? buf.readUInt32LE(4) : buf.readUInt32BE(4);
  const fieldsLen = little ? buf.readUInt32LE(12) : buf.readUInt32BE(12);
  const headerLen = 16 + fieldsLen + ((8 - ((16 + fieldsLen) % 8)) % 8);
  const total = headerLen + bodyLen;
  if (total > MAX_MESSAGE) throw new Error(`malformed D-Bus message: ${total} bytes long`);
  return total;
}

function endianOf(buf: Buffer): boolean {
  if (buf[0] === 0x6c) return true;
  if (buf[0] === 0x42) return false;
  throw new Error(`malformed D-Bus message: byte order mark 0x${buf[0].toString(16)}`);
}

export function decodeMessage(buf: Buffer): Message {
  const little = endianOf(buf);
  if (buf[3] !== 1) throw new Error(`D-Bus protocol version ${buf[3]} is not 1`);
  const r = new Reader(buf, little, 4);
  const bodyLen = r.u32();
  const serial = r.u32();
  const m: Message = { type: buf[1], flags: buf[2], serial };
  const fields = r.read('a(yv)') as [number, Variant][];
  for (const [code, v] of fields) {
    const entry = Object.entries(FIELD).find(([, [c]]) => c === code);
    if (!entry) continue; // unknown fields are to be ignored
    const [name, [, type]] = entry;
    if (v.type !== type)
      throw new Error(`malformed D-Bus message: header field ${code} has type "${v.type}"`);
    (m as unknown as Record<string, unknown>)[name] = v.value;
  }
  r.align(8);
  const bodyStart = r.pos;
  if (bodyStart + bodyLen !== buf.length) throw new Error('malformed D-Bus message: body length mismatch');
  const body = new Reader(buf, little, bodyStart);
  m.body = splitSignature(m.signature ?? '').map((t) => body.read(t));
  if (body.pos !== buf.length) throw new Error('malformed D-Bus message: bytes after the body');
  return m;
}
