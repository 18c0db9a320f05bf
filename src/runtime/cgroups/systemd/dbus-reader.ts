// Reads D-Bus values of either byte order, aligned from the start of the message.
import { ALIGN, isObjectPath, splitSignature, variant } from './dbus-types';

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
