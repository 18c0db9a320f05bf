import fs = require('node:fs');
// A verb is a table (positionals, options in yargs' own format) plus a handler. The same
// table drives full yargs (help, error messages) and the fast path (yargs' parser alone).
import type { Options } from 'yargs';
import type { RuntimeContext } from '../runtime/context';

export interface GlobalArgs {
  root?: string;
  log?: string;
  'log-format': string;
  debug: boolean;
  'systemd-cgroup': boolean;
  rootless: string | boolean;
}

export interface Positional {
  name: string;
  describe: string;
  required?: boolean;
  variadic?: boolean;
}

export interface Verb<A = Record<string, unknown>> {
  name: string;
  describe: string;
  positionals: Positional[];
  options: Record<string, Options>;
  // Options end at the first positional (exec: the command's own flags are not ours).
  haltAtNonOption?: boolean;
  // Options that may be given more than once (collected into an array).
  repeatable?: string[];
  // A number is the exit code (run, exec: the container process's).
  handler: (argv: A & GlobalArgs, ctx: RuntimeContext) => Promise<void | number> | void | number;
}

export const ID: Positional = { name: 'id', describe: 'container id', required: true };

export const GLOBAL_OPTIONS: Record<string, Options> = {
  root: {
    type: 'string',
    describe:
      'directory for container state (default /run/husk; $XDG_RUNTIME_DIR/husk for non-root, and for root in a user namespace whose USER is not root, as runc)',
  },
  log: { type: 'string', describe: 'log file (default: stderr)' },
  'log-format': { type: 'string', choices: ['text', 'json'], default: 'text', describe: 'log format' },
  debug: { type: 'boolean', default: false, describe: 'log debug messages' },
  'systemd-cgroup': { type: 'boolean', default: false, describe: 'use systemd for cgroups' },
  criu: { type: 'string', describe: 'the criu binary checkpoint and restore run (default criu on PATH)' },
  rootless: {
    type: 'string',
    default: 'auto',
    describe:
      "cgroups as an unprivileged user's (only delegated ones; true, false, or auto: true unless root outside a user namespace)",
  },
};

export function print(s: string): void {
  // fs.writeSync: creating process.stdout costs milliseconds at every call.
  fs.writeSync(1, s.endsWith('\n') ? s : s + '\n');
}
