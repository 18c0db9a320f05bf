// The fast path: yargs' own parser (yargs-parser) over the verb tables, ~0.3 ms instead of
// the ~25 ms a full yargs run costs at every call. Anything it is not sure of (help, unknown
// flags, wrong positionals, bad choices) returns null, and full yargs handles the call, so
// help and error messages have one source.
import type { Options } from 'yargs';
import { GLOBAL_OPTIONS, type Verb } from './verb';

export interface Parsed {
  verb: Verb<never>;
  args: Record<string, unknown>;
}

function parserConfig(options: Record<string, Options>) {
  const cfg = {
    string: [] as string[],
    boolean: [] as string[],
    number: [] as string[],
    alias: {} as Record<string, string[]>,
    default: {} as Record<string, unknown>,
  };
  for (const [name, o] of Object.entries(options)) {
    if (o.type === 'boolean') cfg.boolean.push(name);
    else if (o.type === 'number') cfg.number.push(name);
    else cfg.string.push(name);
    if (o.alias) cfg.alias[name] = Array.isArray(o.alias) ? o.alias : [o.alias];
    if (o.default !== undefined) cfg.default[name] = o.default;
  }
  return cfg;
}

function takesValue(o: Options | undefined): boolean {
  return !!o && o.type !== 'boolean';
}

function namesOf(o: Options): readonly string[] {
  return o.alias === undefined ? [] : typeof o.alias === 'string' ? [o.alias] : o.alias;
}

// The words as the parsers below read them, in two rewrites runc's command line (Go's flag
// package under urfave/cli) makes needless:
// - "-name" is "--name" for any long option: go-runc, and so containerd's shim, passes
//   "-no-subreaper" to restore; yargs would read it as the short flags n, o, s, ...
// - "--resources -" (containerd's stdin form): yargs reads a lone "-" as a word, not as the
//   option's value; "--resources=-" says the same without the ambiguity.
// Exec's command after its first word is not touched.
export function joinDashValues(argv: string[], verbs: Verb<never>[]): string[] {
  // --help and --version are yargs' own, not in the tables.
  const globals = new Map<string, Options>([
    ['help', { type: 'boolean' }],
    ['version', { type: 'boolean' }],
  ]);
  for (const [name, o] of Object.entries(GLOBAL_OPTIONS))
    for (const n of [name, ...namesOf(o)]) globals.set(n, o);
  let known = globals;
  const out: string[] = [];
  let verb: Verb<never> | undefined;
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    if (a === '--' || (verb?.haltAtNonOption && !a.startsWith('-'))) return [...out, ...argv.slice(i)];
    if (!verb && !a.startsWith('-')) {
      verb = verbs.find((v) => v.name === a);
      if (verb) {
        known = new Map(globals);
        for (const [name, o] of Object.entries(verb.options))
          for (const n of [name, ...namesOf(o)]) known.set(n, o);
      }
      out.push(a);
      continue;
    }
    const name = a.replace(/^--?/, '').split('=')[0];
    const o = known.get(name);
    const oneDash = /^-[^-]/.test(a);
    if (o && name.length > 1 && oneDash) a = `-${a}`;
    // An option that takes the next word: a long name (two dashes by now), a short one with one.
    if (!takesValue(o) || a.includes('=') || (name.length === 1 && !oneDash)) {
      out.push(a);
    } else if (argv[i + 1] === '-') {
      out.push(`${a}=-`);
      i++;
    } else {
      out.push(a);
      if (i + 1 < argv.length) out.push(argv[++i]);
    }
  }
  return out;
}

function defaultsOf(options: Record<string, Options>): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const [name, o] of Object.entries(options)) {
    if (o.default === undefined) continue;
    args[name] = o.default;
    for (const a of namesOf(o)) args[a] = o.default;
  }
  return args;
}

// What engines send most (`--root R --log L --log-format json state ID`): long global options
// before the verb, then only the verb's positionals. Read here without yargs-parser (loading and
// running it is most of a call's parsing time); the result is what yargs-parser gives for the
// same words (test/unit/cli-parse.test.mjs compares the two). Anything else returns undefined.
function plainParse(argv: string[], i: number, verb: Verb<never>): Parsed | null | undefined {
  const words = argv.slice(i + 1);
  if (words.some((w) => w.startsWith('-'))) return undefined;
  if (verb.positionals.some((p) => p.variadic)) return undefined;
  if (words.length < verb.positionals.filter((p) => p.required).length) return null;
  if (words.length > verb.positionals.length) return null;
  const args = defaultsOf({ ...GLOBAL_OPTIONS, ...verb.options });
  const seen = new Set<string>();
  for (let j = 0; j < i; j++) {
    const a = argv[j];
    if (!a.startsWith('--')) return undefined;
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const o = GLOBAL_OPTIONS[name];
    if (!o || seen.has(name) || o.alias) return undefined;
    seen.add(name);
    if (!takesValue(o)) {
      if (eq >= 0) return undefined;
      args[name] = true;
      continue;
    }
    const v = eq >= 0 ? a.slice(eq + 1) : argv[++j];
    if (v === undefined || (eq < 0 && v.startsWith('-'))) return undefined;
    if (o.type === 'number' || (o.choices && !(o.choices as unknown[]).includes(v))) return undefined;
    args[name] = v;
  }
  args._ = words;
  verb.positionals.forEach((p, idx) => {
    args[p.name] = words[idx];
  });
  return { verb, args };
}

// `viaParser` skips the plain path (the tests compare both).
export function fastParse(argv: string[], verbs: Verb<never>[], viaParser = false): Parsed | null {
  // Find the verb: the first word that is not a global option or its value.
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h' || a === '--version' || a === '-v') return null;
    if (!a.startsWith('-')) break;
    const name = a.replace(/^--?/, '').split('=')[0];
    const o = GLOBAL_OPTIONS[name];
    if (!o) return null;
    if (takesValue(o) && !a.includes('=')) i++;
  }
  const verb = verbs.find((v) => v.name === argv[i]);
  if (!verb) return null;
  if (!viaParser) {
    const plain = plainParse(argv, i, verb);
    if (plain !== undefined) return plain;
  }
  const options = { ...GLOBAL_OPTIONS, ...verb.options };
  // Global options before the verb are parsed with the verb's own.
  let rest = [...argv.slice(0, i), ...argv.slice(i + 1)];
  let tail: string[] = [];
  if (verb.haltAtNonOption) {
    // exec: options end at the first positional; the command's own flags are not ours.
    const byName = new Map<string, Options>();
    for (const [name, o] of Object.entries(options)) {
      byName.set(name, o);
      for (const a of namesOf(o)) byName.set(a, o);
    }
    let j = 0;
    for (; j < rest.length; j++) {
      const a = rest[j];
      if (a === '--' || !a.startsWith('-') || a === '-') break;
      if (!a.includes('=') && takesValue(byName.get(a.replace(/^--?/, '')))) j++;
    }
    tail = rest.slice(rest[j] === '--' ? j + 1 : j);
    rest = rest.slice(0, j);
  }
  if (rest.some((a) => a === '--help' || a === '-h')) return null;
  const cfg = parserConfig(options);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Parser = require('yargs-parser') as typeof import('yargs-parser');
  const res = Parser.detailed(rest, {
    ...cfg,
    configuration: {
      'camel-case-expansion': false,
      'strip-aliased': false,
      'unknown-options-as-args': false,
      // runc's flags are named --no-pivot, --no-new-keyring: not negations of other flags.
      'boolean-negation': false,
      // Ids and signals are words: "0x1F" is a container, "0x9" is not SIGKILL.
      'parse-numbers': false,
      'parse-positional-numbers': false,
    },
  });
  if (res.error) return null;
  const known = new Set<string>(['_', '--']);
  for (const [name, o] of Object.entries(options)) {
    known.add(name);
    for (const a of namesOf(o)) known.add(a);
  }
  const args = res.argv as Record<string, unknown>;
  for (const k of Object.keys(args)) if (!known.has(k)) return null;
  for (const [name, o] of Object.entries(options)) {
    const v = args[name];
    if (o.choices && v !== undefined && !(o.choices as unknown[]).includes(v)) return null;
    if (o.type === 'number' && v !== undefined && Number.isNaN(v)) return null;
    if (Array.isArray(v) && !verb.repeatable?.includes(name)) return null; // given twice: let yargs judge
  }
  const words = [...(args._ as (string | number)[]).map(String), ...tail];
  const required = verb.positionals.filter((p) => p.required).length;
  const variadic = verb.positionals.some((p) => p.variadic);
  if (words.length < required || (!variadic && words.length > verb.positionals.length)) return null;
  verb.positionals.forEach((p, idx) => {
    args[p.name] = p.variadic ? words.slice(idx) : words[idx];
  });
  return { verb, args };
}

function optionIndex(options: Record<string, Options>): Map<string, Options> {
  const byName = new Map<string, Options>();
  for (const [name, o] of Object.entries(options)) {
    byName.set(name, o);
    for (const a of namesOf(o)) byName.set(a, o);
  }
  return byName;
}

const HELP_WORDS = new Set(['help', 'h', 'version', 'v']);

// Words the slow path is about to hand to yargs, checked first the way runc's command line
// checks them: a verb husk does not have is an error even with --help (podman probes
// `runtime checkpoint --help` and takes exit 0 for support), and an unknown flag is named
// before yargs can take the next word as its value. Returns the error text, or null.
// `help VERB` is rewritten to `VERB --help` in place, as runc reads it.
export function checkWords(argv: string[], verbs: Verb<never>[]): string | null {
  const globals = optionIndex(GLOBAL_OPTIONS);
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return null;
    if (!a.startsWith('-')) break;
    const name = a.replace(/^--?/, '').split('=')[0];
    if (HELP_WORDS.has(name)) continue;
    const o = globals.get(name);
    if (!o) return `flag provided but not defined: ${a.split('=')[0]}`;
    if (takesValue(o) && !a.includes('=')) i++;
  }
  if (i >= argv.length) return null;
  if (argv[i] === 'help') {
    if (i + 1 >= argv.length) {
      argv.splice(i, 1, '--help');
      return null;
    }
    argv.splice(i, 2, argv[i + 1], '--help');
  }
  const verb = verbs.find((v) => v.name === argv[i]);
  if (!verb) return `No help topic for '${argv[i]}'`;
  const known = optionIndex({ ...GLOBAL_OPTIONS, ...verb.options });
  for (let j = i + 1; j < argv.length; j++) {
    const a = argv[j];
    if (a === '--') break;
    if (!a.startsWith('-') || a === '-' || /^-\d+$/.test(a)) {
      if (verb.haltAtNonOption) break;
      continue;
    }
    const name = a.replace(/^--?/, '').split('=')[0];
    if (HELP_WORDS.has(name)) continue;
    const o = known.get(name);
    if (o) {
      if (takesValue(o) && !a.includes('=')) j++;
      continue;
    }
    // -dt: short boolean flags run together.
    if (/^-[a-zA-Z]{2,}$/.test(a) && [...a.slice(1)].every((c) => known.get(c)?.type === 'boolean')) continue;
    return `flag provided but not defined: ${a.split('=')[0]}`;
  }
  return null;
}
