// The D-Bus wire format (the specification's "Message Protocol"), for the handful of types the
// systemd driver speaks: y b u i t x s o g v, arrays, structs and dict entries. We write little
// endian and read both byte orders. Alignment counts from the start of the message, which is
// why the writer and reader work on whole messages.
import { MAX_MESSAGE, splitSignature, variant, type Message, type Variant } from './dbus-types';
import { Reader } from './dbus-reader';
import { Writer } from './dbus-writer';

export * from './dbus-types';
export { Reader } from './dbus-reader';
export { Writer } from './dbus-writer';

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
