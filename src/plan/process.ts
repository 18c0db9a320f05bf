// The container process: session and terminal, rlimits, identity, capabilities, cwd, and exec.
import { HuskError } from '../errors';
import type { Process } from '../spec/types';
import { capMask } from './caps';
import { op, type Op } from './ops';

export const RLIMITS: Record<string, number> = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
};

const hex = (v: bigint) => '0x' + v.toString(16);

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function planRlimits(p: Process | undefined): Op[] {
  const seen = new Set<string>();
  return (p?.rlimits ?? []).map((r, i) => {
    const from = `/process/rlimits/${i}`;
    const res = Object.hasOwn(RLIMITS, r.type) ? RLIMITS[r.type] : undefined;
    if (res === undefined) throw new HuskError(`${from}/type: unknown rlimit "${r.type}"`);
    if (seen.has(r.type)) throw new HuskError(`${from}/type: rlimit "${r.type}" is given twice`);
    seen.add(r.type);
    if (r.soft > r.hard)
      throw new HuskError(`${from}: soft limit ${r.soft} is above the hard limit ${r.hard}`);
    return op(
      'RLIMIT',
      from,
      { type: r.type, soft: r.soft, hard: r.hard },
      { resource: res, soft: r.soft, hard: r.hard },
    );
  });
}

export interface ProcessPlanOptions {
  lastCap: number;
  userNs: boolean;
  // A user namespace whose gid map an unprivileged user wrote (the kernel requires setgroups
  // "deny" first), or one below a namespace that denies it already: the process keeps the
  // groups it has, as runc skips setgroups there when no additional groups are asked for.
  setgroupsDenied?: boolean;
  warnings: string[];
}

// Everything from the uid switch to exec. Ordered as runc: bounding set while privileged, keep
// caps across setuid, final sets, then no_new_privs; the program is looked up before waiting
// for `start` so a missing binary fails `create`.
export function planIdentityAndExec(
  p: Process | undefined,
  opts: ProcessPlanOptions,
): { beforeStart: Op[]; afterStart: Op[] } {
  if (!p) throw new HuskError('/process: is required to create a container');
  if (!p.args?.length) throw new HuskError('/process/args: must be a non-empty array of strings');
  if (!p.cwd.startsWith('/')) throw new HuskError(`/process/cwd: "${p.cwd}" must be an absolute path`);
  // A config given to the library unchecked may lack the user: root, as a loaded config.
  const user = p.user ?? { uid: 0, gid: 0 };
  const caps = p.capabilities ?? {};
  const dropped: string[] = [];
  const mask = (k: keyof typeof caps) =>
    capMask(caps[k], `/process/capabilities/${k}`, opts.lastCap, dropped);
  const bounding = mask('bounding');
  const effective = mask('effective');
  const permitted = mask('permitted');
  const inheritable = mask('inheritable');
  const ambient = mask('ambient');
  if (dropped.length)
    opts.warnings.push(
      `capabilities not known to this kernel are ignored: ${[...new Set(dropped)].join(', ')}`,
    );

  const before: Op[] = [];
  before.push(op('CHDIR', '/process/cwd', { cwd: p.cwd }, { cwd: p.cwd }));
  before.push(
    op(
      'CAPS_BOUNDING',
      '/process/capabilities/bounding',
      { keep: bounding.toString(16) },
      { keep: bounding },
    ),
  );
  before.push(op('KEEP_CAPS', '/process/user', {}));
  const gids = user.additionalGids ?? [];
  if (opts.setgroupsDenied && gids.length)
    throw new HuskError(
      '/process/user/additionalGids: cannot be set where setgroups is denied (a rootless container with a single gid mapping, or husk run in a user namespace whose /proc/self/setgroups is "deny")',
    );
  before.push(
    op(
      'CREDS',
      '/process/user',
      { uid: user.uid, gid: user.gid, additionalGids: gids },
      { uid: user.uid, gid: user.gid, groups: gids, setGroups: opts.setgroupsDenied ? 0 : 1 },
    ),
  );
  before.push(
    op(
      'CAPS_SET',
      '/process/capabilities',
      {
        effective: hex(effective),
        permitted: hex(permitted),
        inheritable: hex(inheritable),
        ambient: hex(ambient),
      },
      { effective, permitted, inheritable, ambient },
    ),
  );
  if (user.umask !== undefined)
    before.push(op('UMASK', '/process/user/umask', { umask: user.umask }, { mask: user.umask }));
  else before.push(op('UMASK', '/process/user/umask', { umask: 0o022 }, { mask: 0o022 }));
  if (p.noNewPrivileges) before.push(op('NO_NEW_PRIVS', '/process/noNewPrivileges', {}));
  const env = p.env ?? [];
  // Named here, not by the encoder: one op carries both lists.
  p.args.forEach((a, i) => {
    if (a.includes('\0')) throw new HuskError(`/process/args/${i}: contains a NUL byte`);
  });
  env.forEach((e, i) => {
    if (e.includes('\0')) throw new HuskError(`/process/env/${i}: contains a NUL byte`);
  });
  const pathVar =
    env
      .filter((e) => e.startsWith('PATH='))
      .pop()
      ?.slice(5) ?? DEFAULT_PATH;
  before.push(
    op(
      'LOOKUP_EXEC',
      '/process/args/0',
      { arg0: p.args[0], PATH: pathVar },
      { arg0: p.args[0], path: pathVar },
    ),
  );

  const after: Op[] = [op('EXEC', '/process/args', { args: p.args, env }, { argv: p.args, env })];
  return { beforeStart: before, afterStart: after };
}

// process.terminal: the pty, made in the container. Its slave is given to the process's uid
// (runc does so, or the user cannot reopen its own terminal); `rawOutput` clears ONLCR, for the
// pty husk relays itself (as runc does for its own), so output arrives byte for byte.
export function consoleOp(bindConsole: boolean, uid: number, rawOutput: boolean): Op {
  return op(
    'CONSOLE',
    '/process/terminal',
    { bindConsole, uid, rawOutput },
    { bindConsole: bindConsole ? 1 : 0, owner: uid, rawOutput: rawOutput ? 1 : 0 },
  );
}
