// org.systemd.property.<Name> annotations: extra properties of the container's unit, as runc
// takes them (libcontainer/specconv). The value is GVariant text as runc's D-Bus library
// (godbus) parses it. husk accepts a subset of that parser, and only where both read the same
// thing: scalars with or without a type ("123" is an int32, "uint64 123" or "@t 123" a
// uint64, "true", 'text' or "text"), and flat arrays of them ("['a', 'b']", "@au []").
// Everything else (dicts, variants, byte strings, nested arrays, hex, godbus's misreadings
// such as "0.9", which it takes as 0) is refused with the annotation named, rather than
// guessed at. As runc, a name ending in "Sec" after a lower-case letter (TimeoutStopSec)
// becomes its "USec" property, the seconds turned into microseconds.
import { HuskError } from '../errors';

const PREFIX = 'org.systemd.property.';

export interface ParsedValue {
  type: string; // the D-Bus signature systemd receives
  value: unknown;
}

// The type keywords godbus knows. "double" is missing on purpose: godbus maps it to the
// invalid type "f", so runc refuses it; "@d 1.5" or a plain "1.5" is a double.
const KEYWORDS: Record<string, string> = {
  boolean: 'b',
  byte: 'y',
  int16: 'n',
  uint16: 'q',
  int32: 'i',
  uint32: 'u',
  int64: 'x',
  uint64: 't',
  string: 's',
  objectpath: 'o',
  signature: 'g',
};

const NUMBERS = 'ynqiuxtd';
const STRINGS = 'sgo';
const SCALARS = NUMBERS + STRINGS + 'b';

const INT_RANGE: Record<string, [bigint, bigint]> = {
  y: [0n, 255n],
  n: [-(2n ** 15n), 2n ** 15n - 1n],
  q: [0n, 2n ** 16n - 1n],
  i: [-(2n ** 31n), 2n ** 31n - 1n],
  u: [0n, 2n ** 32n - 1n],
  x: [-(2n ** 63n), 2n ** 63n - 1n],
  t: [0n, 2n ** 64n - 1n],
};

// A parsed node before its type is settled: like godbus, an untyped number could still be
// any numeric type and an untyped string any of s, g, o until the context decides.
type Node =
  | { kind: 'num'; text: string; sig?: string }
  | { kind: 'str'; text: string; sig?: string }
  | { kind: 'bool'; value: boolean }
  | { kind: 'array'; sigs: Set<string>; items: Node[] };

class Parser {
  pos = 0;
  constructor(private s: string) {}

  fail(why: string): never {
    throw new Error(why);
  }

  space(): void {
    while (this.pos < this.s.length && /\s/.test(this.s[this.pos])) this.pos++;
  }

  // One value, optionally preceded by a type: a keyword or "@" and a signature, then space.
  value(): Node {
    this.space();
    let sig: string | undefined;
    const c = this.s[this.pos];
    if (c === '@' || (c !== undefined && /[a-z]/.test(c) && !this.atWord('true') && !this.atWord('false'))) {
      const start = this.pos;
      while (this.pos < this.s.length && !/\s/.test(this.s[this.pos])) this.pos++;
      const word = this.s.slice(start, this.pos);
      if (/^b['"]/.test(word)) this.fail('byte strings (b"...") are not accepted: write e.g. "@ay [1, 2]"');
      if (word.startsWith('@')) {
        sig = word.slice(1);
        const ok = SCALARS.includes(sig) && sig.length === 1;
        const okArray = sig.length === 2 && sig[0] === 'a' && SCALARS.includes(sig[1]);
        if (!ok && !okArray)
          this.fail(`type "${word}" is not one husk accepts (a basic type or an array of one, e.g. @t, @as)`);
      } else {
        if (word === 'double')
          this.fail('"double" is not accepted (runc refuses it too): write @d or a number with a point');
        sig = KEYWORDS[word];
        if (!sig) this.fail(`unknown type "${word}" (a string needs quotes: '${word}')`);
      }
      this.space();
    }
    return this.atom(sig);
  }

  atWord(w: string): boolean {
    return this.s.startsWith(w, this.pos);
  }

  atom(sig: string | undefined): Node {
    const c = this.s[this.pos];
    if (c === undefined) this.fail('a value is missing');
    if (c === '[') return this.array(sig);
    if (sig?.startsWith('a')) this.fail(`type "@${sig}" needs an array`);
    if (c === "'" || c === '"') {
      if (sig && !STRINGS.includes(sig)) this.fail(`a string cannot be of type "${sig}"`);
      return { kind: 'str', text: this.string(), sig };
    }
    for (const w of ['true', 'false'])
      if (this.atWord(w)) {
        if (sig && sig !== 'b') this.fail(`${w} cannot be of type "${sig}"`);
        this.pos += w.length;
        return { kind: 'bool', value: w === 'true' };
      }
    if (/[0-9+-]/.test(c)) {
      if (sig && !NUMBERS.includes(sig)) this.fail(`a number cannot be of type "${sig}"`);
      return { kind: 'num', text: this.number(), sig };
    }
    return this.fail(`unexpected "${c}" (husk accepts numbers, booleans, quoted strings and flat arrays)`);
  }

  // As godbus lexes numbers: after a leading 0 only octal digits belong to the number (in
  // the fraction too); a letter right after a number is an error; hex is refused (godbus
  // lexes 0x but cannot convert it).
  number(): string {
    const start = this.pos;
    if (/[+-]/.test(this.s[this.pos])) this.pos++;
    let digits = /[0-9]/;
    if (this.s[this.pos] === '0') {
      this.pos++;
      if (this.s[this.pos] === 'x')
        this.fail('hexadecimal numbers are not accepted (runc cannot read them either)');
      digits = /[0-7]/;
    }
    const run = (d: RegExp) => {
      while (this.pos < this.s.length && d.test(this.s[this.pos])) this.pos++;
    };
    run(digits);
    if (this.s[this.pos] === '.') {
      this.pos++;
      run(digits);
    }
    if (this.s[this.pos] === 'e' || this.s[this.pos] === 'E') {
      this.pos++;
      if (/[+-]/.test(this.s[this.pos] ?? '')) this.pos++;
      run(/[0-9]/);
    }
    const next = this.s[this.pos];
    if (next !== undefined && /[\p{L}\p{N}.]/u.test(next))
      this.fail(`bad number "${this.s.slice(start, this.pos + 1)}"`);
    return this.s.slice(start, this.pos);
  }

  // A quoted string with GVariant's escapes, decoded as godbus decodes them.
  string(): string {
    const q = this.s[this.pos++];
    let out = '';
    for (;;) {
      const c = this.s[this.pos++];
      if (c === undefined) this.fail('unterminated string');
      if (c === q) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.s[this.pos++];
      if (e === undefined) this.fail('unterminated string');
      const simple: Record<string, string> = {
        a: '\x07',
        b: '\b',
        f: '\f',
        n: '\n',
        r: '\r',
        t: '\t',
        '\n': '',
      };
      if (e in simple) out += simple[e];
      else if (e === 'u' || e === 'U') {
        const n = e === 'u' ? 4 : 8;
        const hex = this.s.slice(this.pos, this.pos + n);
        if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) this.fail(`bad escape "\\${e}${hex}"`);
        this.pos += n;
        const cp = parseInt(hex, 16);
        // What Go writes for a code point that is not a character.
        out += cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? '\ufffd' : String.fromCodePoint(cp);
      } else out += e;
    }
  }

  // "[a, b]": every element must agree on one type; "@aX" fixes it, even for "[]".
  array(sig: string | undefined): Node {
    if (sig && !sig.startsWith('a')) this.fail(`an array cannot be of type "${sig}" (write @a${sig})`);
    this.pos++;
    let sigs = new Set<string>(sig ? [sig] : []);
    const items: Node[] = [];
    this.space();
    if (this.s[this.pos] === ']') {
      this.pos++;
      return { kind: 'array', sigs, items };
    }
    for (;;) {
      const item = this.value();
      if (item.kind === 'array') this.fail('arrays of arrays are not accepted');
      const own = new Set([...candidates(item)].map((t) => `a${t}`));
      sigs = sigs.size ? new Set([...sigs].filter((t) => own.has(t))) : own;
      if (!sigs.size) this.fail('the elements of an array must all be of one type');
      items.push(item);
      this.space();
      const c = this.s[this.pos++];
      if (c === ']') return { kind: 'array', sigs, items };
      if (c !== ',') this.fail(c === undefined ? 'unterminated array' : `unexpected "${c}" in an array`);
    }
  }
}

// The types a node could still be, as godbus's Sigs().
function candidates(n: Node): Set<string> {
  if (n.kind === 'bool') return new Set('b');
  if (n.kind === 'array') return n.sigs;
  if (n.sig) return new Set(n.sig);
  if (n.kind === 'str') return new Set(STRINGS);
  return new Set(/[.eE]/.test(n.text) ? 'd' : NUMBERS);
}

// The type godbus settles on: the only candidate, else an int32 for a number without a point
// or exponent, a double with one, a string for a string, an array of the first element's.
function infer(n: Node): string {
  const c = candidates(n);
  if (c.size === 1) return [...c][0];
  if (n.kind === 'num') return /[.eE]/.test(n.text) ? 'd' : 'i';
  if (n.kind === 'str') return 's';
  if (n.kind === 'array' && n.items.length) return `a${infer(n.items[0])}`;
  throw new Error('cannot tell the type of an empty array: write e.g. "@as []"');
}

function valueOf(n: Node, sig: string): unknown {
  if (n.kind === 'bool') return n.value;
  if (n.kind === 'array') return n.items.map((i) => valueOf(i, sig.slice(1)));
  if (n.kind === 'str') {
    if (n.text.includes('\0')) throw new Error('a D-Bus string cannot hold NUL');
    if (sig === 'o' && !(n.text === '/' || /^(\/[A-Za-z0-9_]+)+$/.test(n.text)))
      throw new Error(`"${n.text}" is not a D-Bus object path`);
    if (sig === 'g' && !isSignature(n.text)) throw new Error(`"${n.text}" is not a D-Bus signature`);
    return n.text;
  }
  return numberAs(n.text, sig);
}

function numberAs(text: string, sig: string): number | bigint {
  const bad = () =>
    new Error(`"${text}" is not a valid ${sig === 'd' ? 'double' : `value of type "${sig}"`}`);
  if (sig === 'd') {
    const v = Number(text);
    if (!Number.isFinite(v)) throw bad();
    return v;
  }
  // godbus reads a number that starts with 0 (no sign) as octal, any other as decimal.
  const m = /^([+-]?)([0-9]+)$/.exec(text);
  if (!m) throw bad();
  const octal = m[1] === '' && m[2].length > 1 && m[2][0] === '0';
  const abs = octal ? BigInt(`0o${m[2]}`) : BigInt(m[2]);
  if (m[1] && 'yqut'.includes(sig)) throw bad(); // Go's ParseUint takes no sign at all
  const v = m[1] === '-' ? -abs : abs;
  const [lo, hi] = INT_RANGE[sig];
  if (v < lo || v > hi) throw bad();
  return sig === 't' || sig === 'x' ? v : Number(v);
}

// Enough of the D-Bus signature grammar for values that name a type.
function isSignature(s: string): boolean {
  let i = 0;
  const one = (): boolean => {
    const c = s[i++];
    if (c === undefined) return false;
    if ('ybnqiuxtdsogvh'.includes(c)) return true;
    if (c === 'a') return one();
    if (c === '(') {
      if (s[i] === ')') return false;
      while (s[i] !== ')') if (!one()) return false;
      i++;
      return true;
    }
    if (c === '{') {
      if (!'ybnqiuxtdsog'.includes(s[i++] ?? '?') || !one() || s[i++] !== '}') return false;
      return true;
    }
    return false;
  };
  while (i < s.length) if (!one()) return false;
  return s.length <= 255;
}

// One annotation value as GVariant text → its D-Bus type and value.
export function parseGVariant(text: string): ParsedValue {
  const p = new Parser(text);
  const node = p.value();
  p.space();
  // godbus stops after the first value and ignores the rest; husk refuses it instead.
  if (p.pos < text.length) throw new Error(`unexpected "${text.slice(p.pos)}" after the value`);
  const type = infer(node);
  return { type, value: valueOf(node, type) };
}

// runc's "Sec" to "USec": the number of seconds as microseconds in a uint64.
function toMicroseconds(v: ParsedValue): bigint {
  if (!NUMBERS.includes(v.type)) throw new Error('a ...Sec property takes a number of seconds');
  const us =
    v.type === 'd'
      ? BigInt(Math.trunc((v.value as number) * 1_000_000))
      : BigInt(v.value as number | bigint) * 1_000_000n;
  if (us < 0n || us > INT_RANGE.t[1]) throw new Error('the number of seconds is out of range');
  return us;
}

// The unit properties the annotations ask for, in the order the config lists them. They are
// sent after husk's own, so that one of the same name (Delegate, a limit) wins, as in runc.
export function annotationProperties(
  annotations: Record<string, string> | undefined,
): { name: string; type: string; value: unknown }[] {
  const out: { name: string; type: string; value: unknown }[] = [];
  for (const [key, text] of Object.entries(annotations ?? {})) {
    if (!key.startsWith(PREFIX)) continue;
    const at = `/annotations/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    let name = key.slice(PREFIX.length);
    if (!/^[A-Za-z]{3,}$/.test(name))
      throw new HuskError(`${at}: "${name}" is not a systemd property name (latin letters only, at least 3)`);
    try {
      let v = parseGVariant(text);
      if (/[a-z]Sec$/.test(name)) {
        v = { type: 't', value: toMicroseconds(v) };
        name = `${name.slice(0, -3)}USec`;
      }
      out.push({ name, ...v });
    } catch (e) {
      throw new HuskError(`${at}: ${JSON.stringify(text)}: ${(e as Error).message}`);
    }
  }
  return out;
}
