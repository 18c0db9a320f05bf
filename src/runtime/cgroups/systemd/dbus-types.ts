// The D-Bus types the systemd driver speaks (y b u i t x s o g v, arrays, structs and dict
// entries): their alignments and signatures, and the message shape. The writer (dbus-writer.ts),
// the reader (dbus-reader.ts) and the message framing (dbus-wire.ts) share them.
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
export const MAX_MESSAGE = 2 ** 27;

export const ALIGN: Record<string, number> = {
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

export function isObjectPath(p: string): boolean {
  return p === '/' || /^(\/[A-Za-z0-9_]+)+$/.test(p);
}
