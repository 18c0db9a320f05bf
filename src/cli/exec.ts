// exec: the process comes from --process (a JSON process object, as engines send it) or from
// the container's own config with the command and flags laid over it, as runc does.
import fs = require('node:fs');
import { HuskError } from '../errors';
import type { Process } from '../spec/types';
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
  cgroup?: string | string[];
}

const list = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];

function processFile(file: string): Process {
  const text = file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(file, 'utf8');
  let proc: unknown;
  try {
    proc = JSON.parse(text);
  } catch (e) {
    throw new HuskError(`--process ${file}: not valid JSON: ${(e as Error).message}`);
  }
  // Validated as the process of a minimal config, so errors name /process/... paths.
  const wrapped = JSON.stringify({ ociVersion: '1.3.0', root: { path: '/' }, process: proc });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parseConfig } = require('../spec/load') as typeof import('../spec/load');
  return parseConfig(`--process ${file}`, wrapped).process!;
}

function fromFlags(a: ExecArgs, base: Process): Process {
  if (!a.command.length) throw new HuskError('exec: give a command, or a process with --process');
  const p: Process = {
    ...base,
    args: a.command,
    terminal: a.tty,
    env: [...(base.env ?? []), ...list(a.env)],
  };
  if (a.cwd) p.cwd = a.cwd;
  if (a.user) {
    const m = /^(\d+)(?::(\d+))?$/.exec(a.user);
    if (!m) throw new HuskError(`--user ${a.user}: expected uid[:gid] as numbers`);
    p.user = { ...p.user, uid: Number(m[1]), gid: m[2] !== undefined ? Number(m[2]) : p.user.gid };
  }
  const gids = list(a['additional-gids']).flatMap((g) => g.split(','));
  if (gids.length) p.user = { ...p.user, additionalGids: gids.map(Number) };
  const caps = list(a.cap);
  if (caps.length) {
    const c = { ...(p.capabilities ?? {}) };
    for (const k of ['bounding', 'effective', 'permitted', 'ambient'] as const)
      c[k] = [...new Set([...(c[k] ?? []), ...caps])];
    p.capabilities = c;
  }
  if (a['no-new-privs']) p.noNewPrivileges = true;
  return p;
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
  handler: async (a, ctx) => {
    const spec = ctx.store.readConfig(a.id);
    if (!spec) throw new HuskError(`container ${a.id} does not exist`);
    const proc = a.process ? processFile(a.process) : fromFlags(a, spec.process!);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { exec } = require('../runtime/exec') as typeof import('../runtime/exec');
    return exec(ctx, a.id, {
      process: proc,
      detach: a.detach,
      pidFile: a['pid-file'],
      consoleSocket: a['console-socket'],
      preserveFds: a['preserve-fds'],
      ignorePaused: a['ignore-paused'],
      seccomp: spec.linux?.seccomp,
      cgroup: list(a.cgroup),
    });
  },
};
