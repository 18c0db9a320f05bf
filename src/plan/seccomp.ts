// linux.seccomp → the numbers libseccomp takes: actions with their errno folded in, arch
// names, comparison ops, and runc's rule splitting. Pure; the addon compiles the result.
import { HuskError } from '../errors';
import type { Seccomp } from '../spec/types';
import { fieldIndex, op, type Op } from './ops';

const EPERM = 1;

const ACTIONS: Record<string, (ret: number) => number> = {
  SCMP_ACT_KILL: () => 0x00000000,
  SCMP_ACT_KILL_THREAD: () => 0x00000000,
  SCMP_ACT_KILL_PROCESS: () => 0x80000000,
  SCMP_ACT_TRAP: () => 0x00030000,
  SCMP_ACT_ERRNO: (ret) => 0x00050000 | (ret & 0xffff),
  SCMP_ACT_TRACE: (ret) => 0x7ff00000 | (ret & 0xffff),
  SCMP_ACT_LOG: () => 0x7ffc0000,
  SCMP_ACT_NOTIFY: () => 0x7fc00000,
  SCMP_ACT_ALLOW: () => 0x7fff0000,
};

const OPS: Record<string, number> = {
  SCMP_CMP_NE: 1,
  SCMP_CMP_LT: 2,
  SCMP_CMP_LE: 3,
  SCMP_CMP_EQ: 4,
  SCMP_CMP_GE: 5,
  SCMP_CMP_GT: 6,
  SCMP_CMP_MASKED_EQ: 7,
};

const NOTIFY = 0x7fc00000;
const NEW_LISTENER = 8; // SECCOMP_FILTER_FLAG_NEW_LISTENER: the load returns the listener fd

// husk-init hands the listener fd to the runtime with these calls after the filter is loaded;
// sent to an agent that does not have the fd yet, they would block forever.
const NEEDED_BEFORE_AGENT = ['write', 'sendmsg'];

const FLAGS: Record<string, number> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
};

export const SECCOMP_ACTIONS = Object.keys(ACTIONS);
export const SECCOMP_OPS = Object.keys(OPS);
export const SECCOMP_FLAGS = Object.keys(FLAGS);
export const SECCOMP_ARCHES = [
  'SCMP_ARCH_X86',
  'SCMP_ARCH_X86_64',
  'SCMP_ARCH_X32',
  'SCMP_ARCH_ARM',
  'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_MIPS',
  'SCMP_ARCH_MIPS64',
  'SCMP_ARCH_MIPS64N32',
  'SCMP_ARCH_MIPSEL',
  'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32',
  'SCMP_ARCH_PPC',
  'SCMP_ARCH_PPC64',
  'SCMP_ARCH_PPC64LE',
  'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X',
  'SCMP_ARCH_RISCV64',
];

export interface SeccompCond {
  index: number;
  op: number;
  a: bigint;
  b: bigint;
}

export interface SeccompRequest {
  defaultAction: number;
  arches: string[];
  rules: { name: string; action: number; conds: SeccompCond[] }[];
  flags: number;
  notify: boolean; // some rule sends calls to the seccomp agent at listenerPath
  // Syscalls above the highest of these (per architecture) get ENOSYS before the filter sees
  // them, as runc 1.0+ does: a call newer than the profile must look like an old kernel's, so
  // programs fall back (clone3 -> clone). Empty when the default action lets calls through.
  enosysAbove: string[];
}

const ENOSYS = 38;

// runc's rule: allow, log and trace (a tracer handles new calls itself) need no stub, nor
// does a default that is ENOSYS already.
function needsEnosysStub(defaultAction: number): boolean {
  const kind = defaultAction & 0xffff0000;
  if (defaultAction === 0x7fff0000 || defaultAction === 0x7ffc0000 || kind === 0x7ff00000) return false;
  return defaultAction !== (0x00050000 | ENOSYS);
}

function action(name: string, ret: number | undefined, where: string): number {
  const f = Object.hasOwn(ACTIONS, name) ? ACTIONS[name] : undefined;
  if (!f) throw new HuskError(`${where}: unknown seccomp action "${name}"`);
  return f(ret ?? EPERM) >>> 0;
}

export function archName(a: string): string {
  return a.replace(/^SCMP_ARCH_/, '').toLowerCase();
}

export function planSeccomp(sc: Seccomp | undefined): SeccompRequest | null {
  if (!sc) return null;
  const W = '/linux/seccomp';
  const defaultAction = action(sc.defaultAction, sc.defaultErrnoRet, `${W}/defaultAction`);
  if (defaultAction === NOTIFY)
    throw new HuskError(
      `${W}/defaultAction: SCMP_ACT_NOTIFY cannot be the default action (the runtime needs write and sendmsg to hand the listener to the agent)`,
    );
  let flags = 0;
  (sc.flags ?? []).forEach((f, i) => {
    if (!Object.hasOwn(FLAGS, f)) throw new HuskError(`${W}/flags/${i}: unknown seccomp flag "${f}"`);
    flags |= FLAGS[f];
  });
  const rules: SeccompRequest['rules'] = [];
  (sc.syscalls ?? []).forEach((s, i) => {
    const where = `${W}/syscalls/${i}`;
    const act = action(s.action, s.errnoRet, `${where}/action`);
    if (act === NOTIFY)
      s.names.forEach((n, j) => {
        if (NEEDED_BEFORE_AGENT.includes(n))
          throw new HuskError(
            `${where}/names/${j}: SCMP_ACT_NOTIFY cannot be used for the ${n} syscall (the runtime needs it to hand the listener to the agent)`,
          );
      });
    // libseccomp refuses a rule whose action is the default one; it would change nothing.
    if (act === defaultAction) return;
    const conds = (s.args ?? []).map((c, j) => {
      const op = Object.hasOwn(OPS, c.op) ? OPS[c.op] : undefined;
      if (!op) throw new HuskError(`${where}/args/${j}/op: unknown comparison "${c.op}"`);
      if (c.index > 5) throw new HuskError(`${where}/args/${j}/index: syscalls have 6 arguments (0-5)`);
      return { index: c.index, op, a: BigInt(c.value), b: BigInt(c.valueTwo ?? 0) };
    });
    // Several conditions on one argument mean "any of them" in runc's reading (docker's
    // profile relies on it): one rule per condition. Otherwise all conditions in one rule.
    const sameArg = new Set(conds.map((c) => c.index)).size < conds.length;
    for (const name of s.names) {
      if (sameArg) for (const c of conds) rules.push({ name, action: act, conds: [c] });
      else rules.push({ name, action: act, conds });
    }
  });
  const notify = rules.some((r) => r.action === NOTIFY);
  if (notify) {
    const p = sc.listenerPath;
    if (!p)
      throw new HuskError(`${W}/listenerPath: SCMP_ACT_NOTIFY needs the path of the seccomp agent's socket`);
    // Abstract sockets ("@name") live in the caller's network namespace, not on a path anyone
    // can check the ownership of; runc refuses them too.
    if (!p.startsWith('/'))
      throw new HuskError(`${W}/listenerPath: "${p}" must be an absolute path to a unix socket`);
    flags |= NEW_LISTENER;
  }
  const enosysAbove = needsEnosysStub(defaultAction)
    ? [...new Set((sc.syscalls ?? []).flatMap((s) => s.names))].sort()
    : [];
  return { defaultAction, arches: (sc.architectures ?? []).map(archName), rules, flags, notify, enosysAbove };
}

// As late as possible: with no_new_privs just before exec; without it, loading a filter needs
// CAP_SYS_ADMIN, so before the uid switch drops the effective set (runc's order). A filter
// with a listener is loaded before the ready stage in both cases, while the runtime that has to
// pass the listener on to the agent still waits on the sync socket.
export function placeSeccomp(
  proc: { beforeStart: Op[]; afterStart: Op[] },
  req: SeccompRequest | null,
  nnp: boolean,
): void {
  if (!req) return;
  const o = op(
    'SECCOMP',
    '/linux/seccomp',
    { rules: req.rules.length, flags: req.flags },
    { flags: req.flags, program: new Uint8Array() },
  );
  if (nnp && req.notify) proc.beforeStart.push(o);
  else if (nnp) proc.afterStart.splice(proc.afterStart.length - 1, 0, o);
  else
    proc.beforeStart.splice(
      proc.beforeStart.findIndex((x) => x.op === 'KEEP_CAPS'),
      0,
      o,
    );
}

// Fills the SECCOMP op with the compiled program.
export function setSeccompProgram(ops: Op[], bpf: Uint8Array): void {
  const o = ops.find((x) => x.op === 'SECCOMP');
  if (o) o.fields[fieldIndex('SECCOMP', 'program')] = { bytes: bpf };
}
