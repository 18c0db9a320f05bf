// exec: the process comes from --process (a JSON process object, as engines send it) or from
// the container's own config with the command and flags laid over it, as runc does. The CLI
// only parses: what the process runs with is decided in runtime/exec (exec-policy.ts).
import fs = require('node:fs');
import { HuskError, NotHere } from '../errors';
import type { RuntimeContext } from '../runtime/context';
import type { Process } from '../spec/types';
import type { ExecOverrides } from '../runtime/exec-policy';
import type { Verb } from './verb';

interface ExecArgs {
  id: string;
  command: string[];
  process?: string;
  detach: boolean;
  'pid-file'?: string;
  'console-socket'?: string;
  tty: boolean;
  cwd?: string;
  env?: string | string[];
  user?: string;
  'additional-gids'?: string | string[];
  cap?: string | string[];
  'no-new-privs': boolean;
  'preserve-fds': number;
  'ignore-paused': boolean;
  apparmor?: string;
  'process-label'?: string;
  cgroup?: string | string[];
}

const list = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];

function processFile(file: string): Process {
  const text = file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(file, 'utf8');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parseProcess } = require('../spec/load') as typeof import('../spec/load');
  return parseProcess(file === '-' ? '--process -' : file, text);
}

// The flags as overrides of the container's own process; runtime/exec lays them over it.
function overrides(a: ExecArgs): ExecOverrides {
  const o: ExecOverrides = { args: a.command, terminal: a.tty, env: list(a.env) };
  if (a.cwd) o.cwd = a.cwd;
  if (a.user) {
    const m = /^(\d+)(?::(\d+))?$/.exec(a.user);
    if (!m) throw new HuskError(`--user ${a.user}: expected uid[:gid] as numbers`);
    o.uid = Number(m[1]);
    if (m[2] !== undefined) o.gid = Number(m[2]);
  }
  const gids = list(a['additional-gids']).flatMap((g) => g.split(','));
  if (gids.length) o.additionalGids = gids.map(Number);
  const caps = list(a.cap);
  if (caps.length) o.caps = caps;
  if (a['no-new-privs']) o.noNewPrivileges = true;
  if (a.apparmor) o.apparmorProfile = a.apparmor;
  if (a['process-label']) o.selinuxLabel = a['process-label'];
  return o;
}

export const execVerb: Verb<ExecArgs> = {
  name: 'exec',
  describe: 'run a process in a running container',
  positionals: [
    { name: 'id', describe: 'container id', required: true },
    { name: 'command', describe: 'command and arguments', variadic: true },
  ],
  haltAtNonOption: true,
  repeatable: ['env', 'additional-gids', 'cap', 'cgroup'],
  options: {
    process: { alias: 'p', type: 'string', describe: 'JSON file of the process to run (- for stdin)' },
    detach: { alias: 'd', type: 'boolean', default: false, describe: 'return once the process runs' },
    'pid-file': { type: 'string', describe: 'file to write the process pid to' },
    'console-socket': { type: 'string', describe: 'unix socket to send the pty master to' },
    tty: { alias: 't', type: 'boolean', default: false, describe: 'give the process a terminal' },
    cwd: { type: 'string', describe: 'working directory in the container' },
    env: { alias: 'e', type: 'string', describe: 'set an environment variable (repeatable)' },
    user: { alias: 'u', type: 'string', describe: 'uid[:gid]' },
    'additional-gids': { alias: 'g', type: 'string', describe: 'additional gids (repeatable)' },
    cap: { alias: 'c', type: 'string', describe: 'add a capability (repeatable)' },
    'no-new-privs': { type: 'boolean', default: false, describe: 'set no_new_privs' },
    'preserve-fds': { type: 'number', default: 0, describe: 'pass N extra fds (from 3) to the process' },
    'ignore-paused': { type: 'boolean', default: false, describe: 'exec even if the container is paused' },
    cgroup: {
      type: 'string',
      describe: 'join a sub-cgroup of the container: [controller[,controller]:]path (repeatable)',
    },
    apparmor: { type: 'string', describe: 'AppArmor profile' },
    'process-label': { type: 'string', describe: 'SELinux label' },
  },
  // Any failure here is the runtime's, before the process ran: exit 255, as runc, so a caller
  // can tell it from the process's own exit status.
  handler: async (a, ctx) => {
    try {
      return await execProcess(a, ctx);
    } catch (e) {
      if (e instanceof NotHere) throw e;
      throw new HuskError(e instanceof Error ? e.message : String(e), EXEC_FAILED);
    }
  },
};

const EXEC_FAILED = 255;

async function execProcess(a: ExecArgs, ctx: RuntimeContext): Promise<number> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { exec } = require('../runtime/exec') as typeof import('../runtime/exec');
  return exec(ctx, a.id, {
    process: a.process ? processFile(a.process) : undefined,
    overrides: overrides(a),
    detach: a.detach,
    pidFile: a['pid-file'],
    consoleSocket: a['console-socket'],
    preserveFds: a['preserve-fds'],
    ignorePaused: a['ignore-paused'],
    cgroup: list(a.cgroup),
  });
}
