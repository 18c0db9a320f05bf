import fs = require('node:fs');
// husk's command line: runc's verbs and flags. Each verb is a table and a thin handler: parse,
// call the runtime, print. Errors print one line to stderr (and to the --log file) and exit
// non-zero.
import { HuskError } from '../errors';
import { Logger } from '../log';
import { makeContext, type RuntimeContext } from '../runtime/context';
import { fastParse, joinDashValues } from './parse';
import { GLOBAL_OPTIONS, type GlobalArgs, type Verb } from './verb';
import { VERBS } from './verbs';

declare const HUSK_COMMIT: string | undefined;
export const VERSION = '0.1.0';

function versionText(): string {
  const commit = typeof HUSK_COMMIT === 'string' ? HUSK_COMMIT : 'unknown';
  return `husk version ${VERSION}\ncommit: ${commit}\nspec: 1.3.0`;
}

let logger: Logger | undefined;

function fail(e: unknown): never {
  const msg = e instanceof Error ? e.message : String(e);
  logger?.error(msg);
  fs.writeSync(2, `husk: ${msg}\n`);
  if (!(e instanceof HuskError) && process.env.HUSK_DEBUG && e instanceof Error)
    process.stderr.write(`${e.stack}\n`);
  process.exit(e instanceof HuskError ? e.exitCode : 1);
}

function context(argv: GlobalArgs): RuntimeContext {
  logger = new Logger({
    file: argv.log,
    format: argv['log-format'] === 'json' ? 'json' : 'text',
    debug: argv.debug,
  });
  return makeContext({
    root: argv.root,
    log: logger,
    rootless: argv.rootless,
    systemdCgroup: !!argv['systemd-cgroup'],
  });
}

async function dispatch(verb: Verb<never>, argv: Record<string, unknown>): Promise<void> {
  const g = argv as unknown as GlobalArgs;
  try {
    const ctx = context(g);
    await verb.handler(argv as never, ctx);
  } catch (e) {
    fail(e);
  }
}

function commandString(v: Verb<never>): string {
  const ps = v.positionals.map((p) =>
    p.required ? `<${p.name}${p.variadic ? '..' : ''}>` : `[${p.name}${p.variadic ? '..' : ''}]`,
  );
  return [v.name, ...ps].join(' ');
}

// Full yargs: help, and the error message for anything the fast path did not accept.
async function slowPath(args: string[]): Promise<void> {
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
    .fail((msg, err) => fail(err ?? new HuskError(msg)))
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
      (argv) => dispatch(verb, argv as Record<string, unknown>),
    );
  }
  const argv = await y.parseAsync();
  if ((argv as { version?: boolean }).version) fs.writeSync(1, versionText() + '\n');
}

// `husk [global options] --version`, as runc accepts it after --root and the like.
function asksVersion(args: string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--version' || a === '-v') return true;
    const name = a.replace(/^--?/, '').split('=')[0];
    if (!a.startsWith('-') || !(name in GLOBAL_OPTIONS)) return false;
    if (GLOBAL_OPTIONS[name].type !== 'boolean' && !a.includes('=')) i++;
  }
  return false;
}

export async function main(args: string[]): Promise<void> {
  if (asksVersion(args)) {
    fs.writeSync(1, versionText() + '\n');
    return;
  }
  args = joinDashValues(args, VERBS);
  const fast = fastParse(args, VERBS);
  if (fast) return dispatch(fast.verb, fast.args);
  return slowPath(args);
}
