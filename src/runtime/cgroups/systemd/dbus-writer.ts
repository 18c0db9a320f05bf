// Writes D-Bus values, little endian, aligned from the start of the message (so a writer is one
// whole message).
import { ALIGN, isObjectPath, splitSignature, type Variant } from './dbus-types';

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
