// husk's command line: runc's verbs and flags. Each verb is a thin file: parse, call the
// runtime, print. Errors print one line to stderr (and the --log file) and exit non-zero.
import yargs from 'yargs/yargs';
import type { Argv } from 'yargs';
import { HuskError } from '../errors';
import { Logger } from '../log';
import { makeContext, type RuntimeContext } from '../runtime/context';
import { VERBS, type GlobalArgs } from './verbs';

declare const HUSK_COMMIT: string | undefined;
export const VERSION = '0.1.0';

function versionText(): string {
  const commit = typeof HUSK_COMMIT === 'string' ? HUSK_COMMIT : 'unknown';
  return `husk version ${VERSION}\ncommit: ${commit}\nspec: 1.3.0`;
}

let logger = new Logger();

function fail(e: unknown): never {
  const msg = e instanceof HuskError ? e.message : e instanceof Error ? e.message : String(e);
  logger.error(msg);
  process.stderr.write(`husk: ${msg}\n`);
  if (!(e instanceof HuskError) && process.env.HUSK_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(e instanceof HuskError ? e.exitCode : 1);
}

export function context(argv: GlobalArgs): RuntimeContext {
  logger = new Logger({ file: argv.log, format: argv['log-format'] === 'json' ? 'json' : 'text', debug: argv.debug });
  return makeContext({ root: argv.root, log: logger });
}

export async function main(args: string[]): Promise<void> {
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
    process.stdout.write(versionText() + '\n');
    return;
  }
  let y: Argv = yargs(args)
    .scriptName('husk')
    .usage('husk [global options] <command> [options] <container-id>\n\nAn OCI container runtime, compatible with runc.')
    .option('root', { type: 'string', default: '/run/husk', describe: 'directory for container state', global: true })
    .option('log', { type: 'string', describe: 'log file (default: stderr)', global: true })
    .option('log-format', { type: 'string', choices: ['text', 'json'], default: 'text', global: true })
    .option('debug', { type: 'boolean', default: false, describe: 'log debug messages', global: true })
    .option('systemd-cgroup', { type: 'boolean', default: false, describe: 'use systemd for cgroups', global: true })
    .option('criu', { type: 'string', hidden: true, global: true })
    .option('rootless', { type: 'string', default: 'auto', describe: 'rootless mode: true, false or auto', global: true })
    .version(false)
    .option('version', { alias: 'v', type: 'boolean', describe: 'print the version' })
    .help('help')
    .alias('help', 'h')
    .strict()
    .demandCommand(1, 'no command given: see husk --help')
    .fail((msg, err) => {
      fail(err ?? new HuskError(msg));
    })
    .wrap(100);
  for (const verb of VERBS) {
    y = y.command(
      verb.command,
      verb.describe,
      (b) => verb.builder(b),
      async (argv) => {
        try {
          if ((argv as unknown as GlobalArgs)['systemd-cgroup'])
            throw new HuskError('--systemd-cgroup: the systemd cgroup driver is not supported yet (use the cgroupfs driver)');
          await verb.handler(argv as never, context(argv as unknown as GlobalArgs));
        } catch (e) {
          fail(e);
        }
      },
    );
  }
  const argv = await y.parseAsync();
  if ((argv as { version?: boolean }).version) process.stdout.write(versionText() + '\n');
}
