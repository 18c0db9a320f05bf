// The D-Bus wire format of the systemd driver's client, checked against byte layouts worked out
// by hand from the D-Bus specification (alignment from the message start, array lengths without
// the padding before the first element, the header's a(yv) fields padded to 8), and round trips.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './helpers.mjs';

const wire = load('runtime/cgroups/systemd/dbus-wire.js');
const { Writer, Reader, MESSAGE, encodeMessage, decodeMessage, messageLength, splitSignature, variant } =
  wire;

const hex = (b) => Buffer.from(b).toString('hex');
function bytesOf(type, value) {
  const w = new Writer();
  w.write(type, value);
  return hex(w.result());
}

describe('D-Bus marshalling: byte layouts from the specification', () => {
  test('basic types are little endian and aligned to their size', () => {
    assert.equal(bytesOf('u', 0x12345678), '78563412');
    assert.equal(bytesOf('y', 0xab), 'ab');
    assert.equal(bytesOf('b', true), '01000000');
    assert.equal(bytesOf('t', 1n), '0100000000000000');
    assert.equal(bytesOf('t', 2n ** 64n - 1n), 'ffffffffffffffff');
    assert.equal(bytesOf('x', -2n), 'feffffffffffffff');
    assert.equal(bytesOf('i', -1), 'ffffffff');
    assert.equal(bytesOf('n', -2), 'feff');
  });

  test('strings: u32 length, the bytes, a NUL; signatures: a byte length', () => {
    assert.equal(bytesOf('s', 'abc'), '03000000616263' + '00');
    assert.equal(bytesOf('s', ''), '0000000000');
    assert.equal(bytesOf('o', '/a'), '020000002f6100');
    assert.equal(bytesOf('g', 'au'), '02617500');
  });

  test('a value after a byte is padded to its own alignment', () => {
    const w = new Writer();
    w.write('y', 1);
    w.write('u', 2);
    w.write('y', 3);
    w.write('t', 4n);
    assert.equal(hex(w.result()), '01000000' + '02000000' + '03' + '00000000000000' + '0400000000000000');
  });

  test('arrays: the length excludes the padding before the first element, even when empty', () => {
    assert.equal(bytesOf('at', []), '00000000' + '00000000');
    assert.equal(bytesOf('at', [1n]), '08000000' + '00000000' + '0100000000000000');
    assert.equal(bytesOf('au', [1, 2]), '08000000' + '01000000' + '02000000');
    assert.equal(bytesOf('ay', [0x87, 1]), '02000000' + '8701');
    assert.equal(
      bytesOf('as', ['a', 'bc']),
      '0f000000' + '0100000061' + '00' + '0000' + '020000006263' + '00',
    );
  });

  test('variants: the signature, then the value at its own alignment', () => {
    assert.equal(bytesOf('v', variant('u', 7)), '01750000' + '07000000');
    assert.equal(bytesOf('v', variant('t', 1n)), '01740000' + '00000000' + '0100000000000000');
  });

  test('a(sv): each struct starts on 8, and the length counts from the first struct', () => {
    const got = bytesOf('a(sv)', [['A', variant('b', true)]]);
    // len 16 | pad to 8 | "A" (6 bytes) | "b" signature (3) | pad to 20 | true
    assert.equal(got, '10000000' + '00000000' + '010000004100' + '016200' + '000000' + '01000000');
  });

  test('a Hello call: header fields at the offsets the specification gives', () => {
    const m = encodeMessage({
      type: MESSAGE.METHOD_CALL,
      serial: 1,
      path: '/org/freedesktop/DBus',
      interface: 'org.freedesktop.DBus',
      member: 'Hello',
      destination: 'org.freedesktop.DBus',
    });
    // path at 16..46, interface at 48..77, member at 80..94, destination at 96..125: 109 bytes
    // of fields, the header padded to 128, no body.
    assert.equal(m.length, 128);
    assert.equal(hex(m.subarray(0, 16)), '6c010001' + '00000000' + '01000000' + '6d000000');
    assert.equal(hex(m.subarray(16, 24)), '01016f00' + '15000000');
    assert.equal(m.subarray(24, 45).toString(), '/org/freedesktop/DBus');
    assert.equal(hex(m.subarray(48, 56)), '02017300' + '14000000');
    assert.equal(hex(m.subarray(80, 88)), '03017300' + '05000000');
    assert.equal(m.subarray(88, 93).toString(), 'Hello');
    assert.equal(hex(m.subarray(96, 100)), '06017300');
    assert.equal(hex(m.subarray(125, 128)), '000000');
    assert.equal(messageLength(m), 128);
    assert.equal(messageLength(m.subarray(0, 15)), null, 'not yet a whole fixed header');
  });

  test('a big-endian reply (byte by byte) is read as well', () => {
    const m = Buffer.from(
      '42020001' +
        '00000004' +
        '00000009' +
        '0000000f' + // 'B', return, len 4, serial 9, 15 bytes of fields
        '05017500' +
        '00000005' + // REPLY_SERIAL: u 5
        '08016700' +
        '017500' + // SIGNATURE: g "u"
        '00' + // header padded to 32
        '00000007',
      'hex',
    );
    const d = decodeMessage(m);
    assert.equal(d.type, MESSAGE.METHOD_RETURN);
    assert.equal(d.serial, 9);
    assert.equal(d.replySerial, 5);
    assert.equal(d.signature, 'u');
    assert.deepEqual(d.body, [7]);
  });
});

describe('D-Bus marshalling: round trips and refusals', () => {
  test('StartTransientUnit with every property type the driver sends comes back equal', () => {
    const props = [
      ['Description', variant('s', 'husk container x')],
      ['Delegate', variant('b', true)],
      ['PIDs', variant('au', [4242])],
      ['MemoryLimit', variant('t', 67108864n)],
      ['TasksMax', variant('t', 2n ** 64n - 1n)],
      ['Wants', variant('as', ['system.slice'])],
      ['AllowedCPUs', variant('ay', [3])],
      ['Job', variant('o', '/org/freedesktop/systemd1/job/1')],
      ['Nested', variant('v', variant('u', 1))],
    ];
    const aux = [['other.scope', [['PIDs', variant('au', [1, 2])]]]];
    const msg = {
      type: MESSAGE.METHOD_CALL,
      serial: 77,
      flags: 0,
      path: '/org/freedesktop/systemd1',
      interface: 'org.freedesktop.systemd1.Manager',
      member: 'StartTransientUnit',
      destination: 'org.freedesktop.systemd1',
      signature: 'ssa(sv)a(sa(sv))',
      body: ['husk-x.scope', 'replace', props, aux],
    };
    const buf = encodeMessage(msg);
    assert.equal(messageLength(buf), buf.length);
    assert.deepEqual(decodeMessage(buf), msg);
  });

  test('every basic type at every starting offset survives a round trip', () => {
    const samples = {
      y: 200,
      b: false,
      n: -300,
      q: 65535,
      i: -5,
      u: 4e9,
      x: -(2n ** 40n),
      t: 2n ** 63n,
      s: 'é',
      o: '/x/y',
      g: 'a(sv)',
    };
    for (let pad = 0; pad < 8; pad++)
      for (const [type, value] of Object.entries(samples)) {
        const w = new Writer();
        for (let i = 0; i < pad; i++) w.write('y', 0);
        w.write(type, value);
        const r = new Reader(w.result(), true, pad);
        assert.deepEqual(r.read(type), value, `${type} after ${pad} bytes`);
      }
  });

  test('signatures split into complete types; bad ones are refused', () => {
    assert.deepEqual(splitSignature('ssa(sv)a(sa(sv))'), ['s', 's', 'a(sv)', 'a(sa(sv))']);
    assert.deepEqual(splitSignature('a{sv}u'), ['a{sv}', 'u']);
    assert.throws(() => splitSignature('a'), /a type is missing/);
    assert.throws(() => splitSignature('(s'), /not closed/);
    assert.throws(() => splitSignature('()'), /empty/);
    assert.throws(() => splitSignature('z'), /unsupported type code "z"/);
  });

  test('values that do not fit their type are refused, naming the type', () => {
    assert.throws(() => bytesOf('u', -1), /"u": out of range/);
    assert.throws(() => bytesOf('u', 1.5), /"u": out of range/);
    assert.throws(() => bytesOf('t', -1n), /"t": out of range/);
    assert.throws(() => bytesOf('o', 'not/a/path'), /not an object path/);
    assert.throws(() => bytesOf('o', '/trailing/'), /not an object path/);
    assert.throws(() => bytesOf('s', 'a\0b'), /contains NUL/);
    assert.throws(() => bytesOf('b', 1), /not a boolean/);
    assert.throws(() => bytesOf('(su)', ['a']), /2-field struct/);
    assert.throws(() => bytesOf('v', { type: 'ss', value: 1 }), /exactly one complete type/);
    assert.throws(
      () => encodeMessage({ type: MESSAGE.METHOD_CALL, signature: 'su', body: ['a'] }),
      /has 2 types, got 1 values/,
    );
  });

  test('malformed input is an error, never a wrong value', () => {
    const good = encodeMessage({
      type: MESSAGE.METHOD_RETURN,
      serial: 2,
      replySerial: 1,
      signature: 'sb',
      body: ['hi', true],
    });
    assert.throws(() => decodeMessage(good.subarray(0, good.length - 1)), /malformed/);
    const badBool = Buffer.from(good);
    badBool[badBool.length - 4] = 2;
    assert.throws(() => decodeMessage(badBool), /boolean 2/);
    const badPad = Buffer.from(good);
    badPad[badPad.length - 5] = 1; // the padding between "hi\0" and the boolean
    assert.throws(() => decodeMessage(badPad), /non-zero padding/);
    const badOrder = Buffer.from(good);
    badOrder[0] = 0x78;
    assert.throws(() => decodeMessage(badOrder), /byte order/);
    const huge = Buffer.from(good);
    huge.writeUInt32LE(2 ** 30, 4);
    assert.throws(() => messageLength(huge), /bytes long/);
  });
});
