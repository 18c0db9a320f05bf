import type { Argv } from 'yargs';
import type { RuntimeContext } from '../runtime/context';

export interface GlobalArgs {
  root: string;
  log?: string;
  'log-format': string;
  debug: boolean;
  'systemd-cgroup': boolean;
  rootless: string;
}

export interface Verb<A = Record<string, unknown>> {
  command: string;
  describe: string;
  builder: (y: Argv) => Argv;
  handler: (argv: A & GlobalArgs, ctx: RuntimeContext) => Promise<void> | void;
}

export function print(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : s + '\n');
}
