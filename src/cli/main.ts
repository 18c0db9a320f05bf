import fs = require('node:fs');
// husk's command line: runc's verbs and flags. Each verb is a table and a thin handler: parse,
// call the runtime, print. Errors print one line to stderr (and to the --log file) and exit
// non-zero.
import { HuskError, NotHere } from '../errors';
import { Logger } from '../log';
import { makeContext } from '../runtime/context';
import type { CallOptions } from '../server/server';
import { checkWords, fastParse, joinDashValues } from './parse';
import { GLOBAL_OPTIONS, type GlobalArgs, type Verb } from './verb';
import { VERBS } from './verbs';

declare const HUSK_COMMIT: string | undefined;
export const VERSION = '0.1.0';

function versionText(): string {
  const commit = typeof HUSK_COMMIT === 'string' ? HUSK_COMMIT : 'unknown';
  return `husk version ${VERSION}\ncommit: ${commit}\nspec: 1.3.0`;
}

// Prints the error (and logs it); returns the exit code.
function fail(e: unknown, logger?: Logger): number {
  const msg = e instanceof Error ? e.message : String(e);
  logger?.error(msg);
  fs.writeSync(2, `husk: ${msg}\n`);
  if (!(e instanceof HuskError) && process.env.HUSK_DEBUG && e instanceof Error)
    fs.writeSync(2, `${e.stack}\n`);
  return e instanceof HuskError ? e.exitCode : 1;
}

async function dispatch(
  verb: Verb<never>,
  argv: Record<string, unknown>,
  call?: CallOptions,
): Promise<number> {
  const g = argv as unknown as GlobalArgs;
  let logger: Logger | undefined;
  try {
    logger = new Logger({
      file: g.log,
      format: g['log-format'] === 'json' ? 'json' : 'text',
      debug: g.debug,
    });
    const ctx = makeContext({
      root: g.root,
      log: logger,
      rootless: g.rootless,
      systemdCgroup: !!g['systemd-cgroup'],
      ...call,
    });
    const code = await verb.handler(argv as never, ctx);
    return typeof code === 'number' ? code : 0;
  } catch (e) {
    if (e instanceof NotHere) throw e;
    return fail(e, logger);
  } finally {
    logger?.close();
  }
}

function commandString(v: Verb<never>): string {
  const ps = v.positionals.map((p) =>
    p.required ? `<${p.name}${p.variadic ? '..' : ''}>` : `[${p.name}${p.variadic ? '..' : ''}]`,
  );
  return [v.name, ...ps].join(' ');
}

// Full yargs: help, and the error message for anything the fast path did not accept.
async function slowPath(args: string[]): Promise<number> {
  let code = 0;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const yargs = require('yargs/yargs') as typeof import('yargs/yargs');
  let y = yargs(args)
    .scriptName('husk')
    .usage(
      'husk [global options] <command> [options] <container-id>\n\nAn OCI container runtime, compatible with runc.',
    )
    .parserConfiguration({
      'boolean-negation': false,
      'parse-numbers': false,
      'parse-positional-numbers': false,
    })
    .version(false)
    .option('version', { alias: 'v', type: 'boolean', describe: 'print the version' })
    .help('help')
    .alias('help', 'h')
    .strict()
    .demandCommand(1, 'no command given: see husk --help')
    .fail((msg, err) => process.exit(failUsage(err ?? new HuskError(msg), args)))
    .wrap(100);
  for (const [name, o] of Object.entries(GLOBAL_OPTIONS)) y = y.option(name, { ...o, global: true });
  for (const verb of VERBS) {
    y = y.command(
      commandString(verb),
      verb.describe,
      (b) => {
        for (const p of verb.positionals) b = b.positional(p.name, { type: 'string', describe: p.describe });
        for (const [name, o] of Object.entries(verb.options)) b = b.option(name, o);
        return b;
      },
      async (argv) => {
        code = await dispatch(verb, argv as Record<string, unknown>);
      },
    );
  }
  const argv = await y.parseAsync();
  if ((argv as { version?: boolean }).version) fs.writeSync(1, versionText() + '\n');
  return code;
}

// The global options before the verb, name → value (true for a flag without one), with
// --version and -v among them: runc reads both there, after --root and the like.
function leadingGlobals(args: string[]): Map<string, string | true> {
  const out = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--version' || a === '-v') {
      out.set('version', true);
      continue;
    }
    if (!a.startsWith('-')) break;
    const [flag, inline] = a.split(/=(.*)/s, 2);
    const name = flag.replace(/^--?/, '');
    const o = GLOBAL_OPTIONS[name];
    if (!o) break;
    out.set(name, o.type === 'boolean' ? true : (inline ?? args[++i]));
  }
  return out;
}

const asksVersion = (args: string[]) => leadingGlobals(args).has('version');

// A usage error goes to the --log file too, when the global options before the verb name one:
// containerd's shim reports a failed call from that file alone, and runc's command line has
// set its log up by the time a verb's flags are read.
function failUsage(e: unknown, args: string[]): number {
  const g = leadingGlobals(args);
  const file = g.get('log');
  const logger =
    typeof file === 'string'
      ? new Logger({ file, format: g.get('log-format') === 'json' ? 'json' : 'text' })
      : undefined;
  try {
    return fail(e, logger);
  } finally {
    logger?.close();
  }
}

// Returns the exit code.
export async function main(args: string[]): Promise<number> {
  args = joinDashValues(args, VERBS);
  if (asksVersion(args)) {
    fs.writeSync(1, versionText() + '\n');
    return 0;
  }
  const fast = fastParse(args, VERBS);
  if (fast) return dispatch(fast.verb, fast.args);
  const wrong = checkWords(args, VERBS);
  if (wrong) return failUsage(new HuskError(wrong), args);
  return slowPath(args);
}

// A call the husk server runs for a front: a verb the fast path parses (help, usage errors and
// their yargs output stay with the Node CLI), minus the ones that stream or serve.
// checkpoint and restore neither: a restored init is the restoring process's child (criu's
// rst_sibling), which must be the caller's, not the server's.
const NOT_SERVED = new Set(['events', 'server', 'checkpoint', 'restore']);

export async function serveCall(args: string[], call: CallOptions): Promise<number | null> {
  const words = joinDashValues(args, VERBS);
  if (asksVersion(words)) return main(args);
  const fast = fastParse(words, VERBS);
  if (!fast || NOT_SERVED.has(fast.verb.name)) return null;
  try {
    return await dispatch(fast.verb, fast.args, call);
  } catch (e) {
    if (e instanceof NotHere) return null;
    throw e;
  }
}
