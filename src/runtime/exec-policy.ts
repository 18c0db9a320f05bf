// What an exec'd process runs with, decided once from the container's saved config for every
// caller (CLI, library, server): the container's seccomp filter always; its AppArmor profile,
// SELinux label, no_new_privs, capabilities and rlimits unless the exec asks for its own, as
// runc does. The caller gives either a whole process (`exec --process`, the library) or the
// overrides its flags parse into, laid over the container's own process.
import { HuskError } from '../errors';
import type { LsmSources } from '../plan/lsm';
import type { Process, Seccomp, Spec } from '../spec/types';

export interface ExecOverrides {
  args: string[];
  terminal?: boolean;
  env?: string[]; // appended to the container's
  cwd?: string;
  uid?: number;
  gid?: number;
  additionalGids?: number[];
  caps?: string[]; // added to bounding, effective and permitted (and ambient, where inheritable is set)
  noNewPrivileges?: boolean; // only ever turns it on
  apparmorProfile?: string; // --apparmor
  selinuxLabel?: string; // --process-label
}

// With a whole process, only the label overrides apply (the flags beside --process are ignored,
// as runc ignores them); without one, every override is laid over the container's process.
export interface ExecRequest {
  process?: Process;
  overrides?: ExecOverrides;
}

export interface ExecPolicy {
  process: Process;
  seccomp: Seccomp | undefined;
  lsmFrom: LsmSources;
}

export function execPolicy(spec: Spec, req: ExecRequest): ExecPolicy {
  const base = spec.process;
  if (!base) throw new HuskError('/process: the container has no process to exec from');
  const o = req.overrides;
  let p: Process;
  if (req.process) {
    const own = req.process;
    // A process of its own keeps what it says and inherits what it leaves out.
    p = {
      ...own,
      apparmorProfile: own.apparmorProfile ?? base.apparmorProfile,
      selinuxLabel: own.selinuxLabel ?? base.selinuxLabel,
      noNewPrivileges: own.noNewPrivileges ?? base.noNewPrivileges,
      capabilities: own.capabilities ?? base.capabilities,
      rlimits: own.rlimits?.length ? own.rlimits : base.rlimits,
    };
  } else {
    if (!o?.args.length) throw new HuskError('exec: give a command, or a process with --process');
    p = { ...base, args: o.args, terminal: !!o.terminal, env: [...(base.env ?? []), ...(o.env ?? [])] };
    if (o.cwd) p.cwd = o.cwd;
    if (o.uid !== undefined) p.user = { ...p.user, uid: o.uid, gid: o.gid ?? p.user.gid };
    if (o.additionalGids?.length) p.user = { ...p.user, additionalGids: o.additionalGids };
    if (o.caps?.length) p.capabilities = withCaps(p.capabilities ?? {}, o.caps);
    if (o.noNewPrivileges) p.noNewPrivileges = true;
  }
  const lsmFrom: LsmSources = {};
  if (o?.apparmorProfile) {
    p.apparmorProfile = o.apparmorProfile;
    lsmFrom.apparmorProfile = '--apparmor';
  }
  if (o?.selinuxLabel) {
    p.selinuxLabel = o.selinuxLabel;
    lsmFrom.selinuxLabel = '--process-label';
  }
  return { process: p, seccomp: spec.linux?.seccomp, lsmFrom };
}

// exec --cap: the capability is made usable by the process, never inheritable (CVE-2022-29162:
// inheritable capabilities survive an execve of a file with inheritable file caps). Ambient
// needs the inheritable bit, so it is added only where the config already gives inheritable
// capabilities, as runc does.
function withCaps(
  c: NonNullable<Process['capabilities']>,
  caps: string[],
): NonNullable<Process['capabilities']> {
  const add = (list: string[] | undefined) => [...new Set([...(list ?? []), ...caps])];
  const out = { ...c, bounding: add(c.bounding), effective: add(c.effective), permitted: add(c.permitted) };
  if (c.inheritable) out.ambient = add(c.ambient);
  return out;
}
