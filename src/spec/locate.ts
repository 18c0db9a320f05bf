// Finds where a JSON pointer's value starts in the source text, to point an error at a line.
// Only used after validation failed, so it costs nothing on the normal path.
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' };

export function locate(text: string, pointer: string): { line: number; column: number } | null {
  const want =
    pointer === ''
      ? []
      : pointer
          .split('/')
          .slice(1)
          .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const str = (): string => {
    let out = '';
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') {
        const c = text[i + 1];
        if (c === 'u') out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
        else out += ESCAPES[c] ?? c;
        i += c === 'u' ? 6 : 2;
      } else out += text[i++];
    }
    i++;
    return out;
  };
  const skip = (): void => {
    ws();
    const c = text[i];
    if (c === '"') str();
    else if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      ws();
      while (i < text.length && text[i] !== close) {
        if (c === '{') {
          ws();
          str();
          ws();
          i++; // colon
        }
        skip();
        ws();
        if (text[i] === ',') i++;
        ws();
      }
      i++;
    } else while (i < text.length && !/[,\]}\s]/.test(text[i])) i++;
  };
  const descend = (depth: number): boolean => {
    ws();
    if (depth === want.length) return true;
    const c = text[i];
    const key = want[depth];
    if (c === '{') {
      i++;
      for (;;) {
        ws();
        if (text[i] !== '"') return false;
        const k = str();
        ws();
        i++;
        if (k === key) return descend(depth + 1);
        skip();
        ws();
        if (text[i] !== ',') return false;
        i++;
      }
    }
    if (c === '[') {
      i++;
      const n = Number(key);
      for (let idx = 0; ; idx++) {
        ws();
        if (text[i] === ']') return false;
        if (idx === n) return descend(depth + 1);
        skip();
        ws();
        if (text[i] !== ',') return false;
        i++;
      }
    }
    return false;
  };
  try {
    if (!descend(0)) return null;
  } catch {
    return null;
  }
  const before = text.slice(0, i).split('\n');
  return { line: before.length, column: before[before.length - 1].length + 1 };
}
